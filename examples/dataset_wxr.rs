//! Writes a labelled dataset (tests/data) as a WordPress export on stdout, spam as `spam` and
//! ham as approved, so that `commentguard import` can load it as a site's history and report how
//! often the classifier agrees with those decisions (`scripts/import-agreement.sh`).
//!
//! usage: cargo run --example dataset_wxr -- DATASET > export.wxr

use quick_xml::escape::escape;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .ok_or("usage: dataset_wxr DATASET")?;
    let comments = commentguard::dataset::read(std::path::Path::new(&path), None)?;
    // One minute apart from 2020-01-01, in file order.
    let start_ms = 1_577_836_800_000;
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" \
         xmlns:wp=\"http://wordpress.org/export/1.2/\">\n<channel>\n\
         <link>https://dataset.example</link>\n<item>\n\
         <link>https://dataset.example/post/</link>\n<wp:post_id>1</wp:post_id>\n",
    );
    for (n, comment) in comments.iter().enumerate() {
        let date = commentguard::import::dates::wxr(start_ms + n as u64 * 60_000);
        let approved = if comment.label.is_spam() { "spam" } else { "1" };
        let name = match comment.author_name.trim() {
            "" => "Anonymous",
            name => name,
        };
        out.push_str(&format!(
            "<wp:comment><wp:comment_id>{}</wp:comment_id>\
             <wp:comment_author>{}</wp:comment_author>\
             <wp:comment_date_gmt>{date}</wp:comment_date_gmt>\
             <wp:comment_content>{}</wp:comment_content>\
             <wp:comment_approved>{approved}</wp:comment_approved>\
             <wp:comment_parent>0</wp:comment_parent></wp:comment>\n",
            n + 1,
            escape(name),
            escape(&comment.content),
        ));
    }
    out.push_str("</item>\n</channel>\n</rss>\n");
    print!("{out}");
    Ok(())
}
