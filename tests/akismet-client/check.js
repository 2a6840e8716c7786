// Drives the stock `akismet-api` client against commentguard's Akismet-compatible endpoint and
// prints one JSON object with what the client got back; tests/akismet.rs checks it.
//
// usage: node check.js PORT KEY BLOG
//
// The client puts the key in the host name (`KEY.<host>`), as Akismet's old endpoint wanted:
// every `*.localhost` name is resolved to 127.0.0.1 here so that it reaches the local server.
'use strict'

const dns = require('dns')

// Loopback only: `*.localhost` is 127.0.0.1 and nothing else is looked up.
dns.lookup = (host, options, callback) => {
  if (typeof options === 'function') [options, callback] = [{}, options]
  if (host !== 'localhost' && !host.endsWith('.localhost')) {
    return process.nextTick(callback, new Error(`refusing to resolve ${host}`))
  }
  if (options && options.all) {
    return process.nextTick(callback, null, [{ address: '127.0.0.1', family: 4 }])
  }
  process.nextTick(callback, null, '127.0.0.1', 4)
}

const { AkismetClient } = require('akismet-api')

const [port, key, blog] = process.argv.slice(2)

const options = { host: `localhost:${port}`, protocol: 'http', blog }
const client = new AkismetClient({ ...options, key })
const stranger = new AkismetClient({ ...options, key: 'notthekey0000' })

const ham = {
  ip: '198.51.100.7',
  useragent: 'Mozilla/5.0 (X11; Linux x86_64)',
  permalink: `${blog}/2026/03/slugs/`,
  type: 'comment',
  name: 'Ada',
  email: 'ada@example.com',
  content: 'Copper tape around the beds kept the slugs off my lettuce this spring.'
}
const spam = { ...ham, name: 'akismet-guaranteed-spam', content: 'whatever' }
const admin = { ...ham, role: 'administrator', content: 'Buy cheap pills online now!!! http://x.example' }
const blatant = {
  ...ham,
  name: 'Best Deals',
  email: 'deals@example.biz',
  content: 'Check out my channel!!! subscribe and earn money fast, free gift cards, click here http://spam.example.biz http://spam.example.biz/win'
}

async function main () {
  const out = {}
  out.verifyKey = await client.verifyKey()
  out.verifyWrongKey = await stranger.verifyKey()
  out.ham = await client.checkSpam(ham)
  out.guaranteedSpam = await client.checkSpam(spam)
  out.administrator = await client.checkSpam(admin)
  out.blatant = await client.checkSpam(blatant)
  try {
    await stranger.checkSpam(ham)
    out.wrongKeyCheck = 'no error'
  } catch (e) {
    out.wrongKeyCheck = e.message
  }
  const learned = await client.submitSpam(blatant)
  out.submitSpam = learned ? learned.text : null
  const unlearned = await client.submitHam({ ...ham, is_test: true })
  out.submitHamTest = unlearned ? unlearned.text : null
  const taught = await client.submitHam(ham)
  out.submitHam = taught ? taught.text : null
  console.log(JSON.stringify(out))
}

main().catch(e => {
  console.error(`akismet-api failed: ${e.stack || e}`)
  process.exit(1)
})
