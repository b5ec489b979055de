"""Parses a podcast feed with feedparser (the real parser podcast tools use) and prints what the
gateway test checks, as JSON. Usage: parse_feed.py FEED.xml"""

import json
import sys

import feedparser

parsed = feedparser.parse(sys.argv[1])
feed = parsed.feed
out = {
    "bozo": int(parsed.bozo),
    "bozo_exception": str(parsed.get("bozo_exception", "")),
    "version": parsed.version,
    "namespaces": parsed.namespaces,
    "title": feed.get("title"),
    "link": feed.get("link"),
    "description": feed.get("subtitle"),
    "language": feed.get("language"),
    "image": (feed.get("image") or {}).get("href"),
    "author": feed.get("author"),
    "explicit": feed.get("itunes_explicit"),
    "categories": [t.get("term") for t in feed.get("tags", [])],
    "entries": [
        {
            "title": e.get("title"),
            "id": e.get("id"),
            "guidislink": e.get("guidislink"),
            "published": list(e.published_parsed[:6]) if e.get("published_parsed") else None,
            "enclosures": [
                {"href": x.get("href"), "length": x.get("length"), "type": x.get("type")}
                for x in e.get("enclosures", [])
            ],
            "duration": e.get("itunes_duration"),
            "image": (e.get("image") or {}).get("href"),
            "description": e.get("summary"),
        }
        for e in parsed.entries
    ],
}
print(json.dumps(out))
