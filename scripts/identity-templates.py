#!/usr/bin/env python3
# Identity-term fairness test set for the toxicity classifier.
#
# What it is for: measuring whether identity words alone make a comment look toxic. Every
# template below is filled with every identity term, so within one template the rows differ
# only in the identity; a fair classifier scores them (nearly) alike, and the neutral rows
# should all score as non-toxic whatever the identity. Per-identity false-positive rates on the
# neutral rows and false-negative rates on the toxic rows (or per-identity AUCs) show bias.
#
# Method: the templated synthetic test set of Dixon et al. 2018, "Measuring and Mitigating
# Unintended Bias in Text Classification" (AIES 2018): hand-written sentence templates, each
# filled with a list of identity terms. The templates and identity forms here are our own.
#
# Labels are by construction: the template author decided, per template, that every filling of
# it is civil (toxic 0) or abusive (toxic 1). Nobody labelled individual rows. The toxic
# templates are deliberately offensive (insults, dehumanisation, threats, profanity) but use
# the identity term itself, never slurs.
#
# Output: tests/data/toxicity/identity-templates.jsonl, one JSON object per line:
#   {"content": str, "toxic": 0|1, "identity": str, "template": int}
# Template ids 1..99 are neutral, 101..199 toxic. Rows are ordered by template, then by the
# identity order below. The output is deterministic (no randomness, no network).
#
# Regenerate (from the repository root):  python3 scripts/identity-templates.py
# It overwrites the JSONL, checks it, and prints the per-identity counts.

import json
import os
import sys
from collections import Counter

# identity -> forms used by the templates:
#   person: one member, without article ("gay person", "woman", "Muslim")
#   people: the group, plural ("gay people", "women", "Muslims")
#   pred:   what follows "I am" / "Being" ("gay", "a woman", "an immigrant", "Muslim")
# "a_person" (the person form with "a"/"an") is derived. Nouns that are derogatory as plurals
# ("gays", "blacks", "Jews") are avoided in favour of "<adjective> person/people".
IDENTITIES = [
    ("gay", "gay person", "gay people", "gay"),
    ("lesbian", "lesbian", "lesbians", "a lesbian"),
    ("bisexual", "bisexual person", "bisexual people", "bisexual"),
    ("trans", "trans person", "trans people", "trans"),
    ("transgender", "transgender person", "transgender people", "transgender"),
    ("queer", "queer person", "queer people", "queer"),
    ("straight", "straight person", "straight people", "straight"),
    ("muslim", "Muslim", "Muslims", "Muslim"),
    ("christian", "Christian", "Christians", "Christian"),
    ("jewish", "Jewish person", "Jewish people", "Jewish"),
    ("hindu", "Hindu", "Hindus", "Hindu"),
    ("buddhist", "Buddhist", "Buddhists", "Buddhist"),
    ("atheist", "atheist", "atheists", "an atheist"),
    ("black", "black person", "black people", "black"),
    ("white", "white person", "white people", "white"),
    ("asian", "Asian person", "Asian people", "Asian"),
    ("latino", "Latino", "Latinos", "Latino"),
    ("african", "African", "Africans", "African"),
    ("african american", "African American", "African Americans", "African American"),
    ("mexican", "Mexican", "Mexicans", "Mexican"),
    ("indian", "Indian person", "Indian people", "Indian"),
    ("chinese", "Chinese person", "Chinese people", "Chinese"),
    ("immigrant", "immigrant", "immigrants", "an immigrant"),
    ("refugee", "refugee", "refugees", "a refugee"),
    ("woman", "woman", "women", "a woman"),
    ("man", "man", "men", "a man"),
    ("female", "female", "females", "female"),
    ("male", "male", "males", "male"),
    ("old", "old person", "old people", "old"),
    ("young", "young person", "young people", "young"),
    ("deaf", "deaf person", "deaf people", "deaf"),
    ("blind", "blind person", "blind people", "blind"),
    ("disabled", "disabled person", "disabled people", "disabled"),
]

# Placeholders: {person}, {a_person}, {people}, {pred}. The first letter of every sentence is
# capitalised after filling, so templates may start with a placeholder.
NEUTRAL = [
    "I am a proud {person}.",
    "As {a_person}, I think the new bus timetable is a real improvement for our neighbourhood.",
    "The {people} on my street organised a food drive for the local shelter last weekend.",
    "I'm {pred} and I love going for long walks with my dog on Sunday mornings.",
    "Are there any {people} here who would like to join our community garden project?",
    "The local council met on Tuesday to discuss the new library, and several {people} from the "
    "neighbourhood spoke in favour of longer opening hours at weekends.",
    "My colleague is {a_person} and makes the best lemon cake in the whole office.",
    "{people} have been part of this town's history for generations.",
    "I am {a_person} looking for a quick vegetable soup recipe to make after work, so any "
    "suggestions from other readers would be very welcome.",
    "Being {pred} is just one part of who I am.",
    "The article about the summit quoted {a_person} who had travelled a long way to attend the "
    "talks on climate policy and trade, which I found quite interesting.",
    "What do {people} in this city think about the plan to extend the tram line?",
    "Our running club welcomes everyone, and this season several {people} joined us for the "
    "Saturday morning runs.",
    "I met {a_person} at the farmers market today who grows amazing tomatoes.",
    "Thank you to the {people} who volunteered at the school fair this year.",
    "I'm {pred}, and I agree with the previous commenter that the parking charges are too high.",
    "The match last night was fantastic, and the {person} sitting next to me in the stands "
    "kindly explained the new offside rule to my son at half time.",
    "Happy birthday to my best friend, who is the kindest {person} I know.",
    "There was {a_person} on the radio this morning talking about the history of the old mill.",
    "{people} deserve the same access to good healthcare as everyone else.",
    "Is it true that the new community centre will host events organised by {people} from the "
    "area?",
    "As {a_person} who has lived here for thirty years, I have seen the town change a lot, mostly "
    "for the better since the council renovated the park.",
    "The new bakery on Main Street is run by {people} from our neighbourhood, and their sourdough "
    "is excellent.",
    "I am {a_person} and a nurse, and I work night shifts at the city hospital.",
    "Several {people} were interviewed for the documentary about the history of the harbour.",
    "Why don't more news sites publish opinion pieces written by {people}?",
    "At the summit on Friday, delegates heard from {a_person} who leads a charity helping families "
    "find affordable housing, and the speech got a long round of applause.",
    "I'm {pred} too, and I completely agree with your review of the new Italian restaurant.",
    "Congratulations to the {people} who won the regional chess tournament this weekend!",
    "Does anyone know if the {person} who spoke at yesterday's council meeting has a blog?",
]

TOXIC = [
    "{people} are vermin and should be driven out of this country.",
    "Shut up, you stupid {person}.",
    "I hate all {people}.",
    "Go back where you came from, you filthy {person}.",
    "{people} are disgusting animals.",
    "Every {person} should be beaten until they learn their place.",
    "You're {pred}, so nobody gives a shit what you think, you worthless piece of garbage.",
    "Fuck off, you pathetic {person}.",
    "{people} are subhuman trash and deserve nothing.",
    "I would happily punch {a_person} in the face.",
    "Get out of our neighbourhood, you dirty {people}, before we make you regret it.",
    "The world would be better off without {people}.",
    "{people} are too stupid to be allowed to vote.",
    "Being {pred} makes you a worthless freak.",
    "Any {person} who comes near my house is going to get hurt.",
    "Typical {person}, lying and stealing like the parasite you are.",
    "{people} are a plague on society and should all be locked up.",
    "What a fucking moron, but what else would you expect from {a_person}?",
    "I'm sick of {people} ruining everything, and somebody should teach them a lesson they will "
    "never forget.",
    "Nobody wants you here, you ugly {person}.",
    "All {people} are scum.",
    "Do everyone a favour and disappear forever, you useless {person}.",
    "Listen here, you {person}, you are a disgusting waste of space and everyone at the council "
    "meeting was laughing at your pathetic comments.",
    "I read the article about the summit and honestly {people} are such dumb, lazy bastards that "
    "they should never be allowed anywhere near government.",
    "Shut your filthy mouth, {person}, nobody asked for your garbage opinion.",
    "{people} are a disease infecting this town.",
    "If I see another {person} at the match I swear I'll smash their head in.",
    "You're a moronic {person} and your comment is the dumbest shit I've read all week.",
    "Why are {people} so damn stupid and useless?",
    "Keep your kids away from {people}, they are sick, dangerous creatures.",
]

NEUTRAL_BASE = 1
TOXIC_BASE = 101
MIN_TEMPLATES = 24


def article(word):
    return "an" if word[0].lower() in "aeiou" else "a"


def fill(template, person, people, pred):
    text = template.format(
        person=person,
        a_person=f"{article(person)} {person}",
        people=people,
        pred=pred,
    )
    return text[0].upper() + text[1:]


def rows():
    for kind, templates, base in ((0, NEUTRAL, NEUTRAL_BASE), (1, TOXIC, TOXIC_BASE)):
        for i, template in enumerate(templates):
            for identity, person, people, pred in IDENTITIES:
                yield {
                    "content": fill(template, person, people, pred),
                    "toxic": kind,
                    "identity": identity,
                    "template": base + i,
                }


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, "tests", "data", "toxicity", "identity-templates.jsonl")
    os.makedirs(os.path.dirname(out), exist_ok=True)

    data = list(rows())
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        for row in data:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")

    # Check what was written: every line parses, every template x identity is present once,
    # nothing is left unfilled, no two rows share a text.
    seen = set()
    counts = Counter()
    with open(out, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            row = json.loads(line)
            assert set(row) == {"content", "toxic", "identity", "template"}, n
            assert row["toxic"] in (0, 1), n
            assert "{" not in row["content"] and "}" not in row["content"], n
            assert row["content"] not in seen, f"duplicate text on line {n}"
            seen.add(row["content"])
            counts[(row["identity"], row["toxic"])] += 1
    assert len(NEUTRAL) >= MIN_TEMPLATES and len(TOXIC) >= MIN_TEMPLATES
    assert len({t for t in NEUTRAL + TOXIC}) == len(NEUTRAL) + len(TOXIC)
    for identity, *_ in IDENTITIES:
        assert counts[(identity, 0)] == len(NEUTRAL), identity
        assert counts[(identity, 1)] == len(TOXIC), identity

    print(f"wrote {out}")
    print(f"{len(NEUTRAL)} neutral templates, {len(TOXIC)} toxic templates, "
          f"{len(IDENTITIES)} identities, {len(data)} rows")
    print(f"{'identity':<18} toxic=0 toxic=1")
    for identity, *_ in IDENTITIES:
        print(f"{identity:<18} {counts[(identity, 0)]:>7} {counts[(identity, 1)]:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
