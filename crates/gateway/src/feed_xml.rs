//! Writing the podcast feed: RSS 2.0 with the iTunes (`itunes:`) and Podcasting 2.0 (`podcast:`)
//! namespaces, by `quick-xml`'s writer, which escapes every text and attribute value. Characters
//! XML 1.0 cannot carry at all (most control characters) are dropped first, so a hostile title
//! can neither break the document nor inject markup.
//!
//! The channel names no user: the feed may end up in a podcast app's sync service, so it says
//! only which server it comes from. Jobs keep no chapter list (chapters exist only as the parts
//! of a `split=chapters` job, which is not an episode), so no `podcast:chapters` is written.

use std::io;
use std::time::{Duration, UNIX_EPOCH};

use mp3converter_core::Job;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use crate::links::display_title;

/// `s` without the characters XML 1.0 forbids (C0 controls other than tab, newline and carriage
/// return; U+FFFE and U+FFFF).
fn clean(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            !matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}')
                && c != '\u{fffe}'
                && c != '\u{ffff}'
        })
        .collect()
}

/// An RFC 2822 date (the IMF-fixdate of HTTP, `Sun, 06 Nov 1994 08:49:37 GMT`, is one).
fn rfc2822(millis: i64) -> String {
    let millis = u64::try_from(millis).unwrap_or(0);
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(millis))
}

fn text<W: io::Write>(w: &mut Writer<W>, name: &str, value: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(&clean(value)))?;
    Ok(())
}

/// The host of `public_url` (what the channel is called after).
fn host(public_url: &str) -> &str {
    let rest = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

/// The feed of `jobs` (done, newest first). `public_url` is the server's base URL, `base` the
/// feed's (`<public_url>/feeds/<secret>`), under which the episodes' audio and covers live.
pub(crate) fn render(public_url: &str, base: &str, jobs: &[&Job]) -> io::Result<String> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let title = format!("mp3converter — {}", host(public_url));
    w.create_element("rss")
        .with_attribute(("version", "2.0"))
        .with_attribute(("xmlns:itunes", "http://www.itunes.com/dtds/podcast-1.0.dtd"))
        .with_attribute(("xmlns:podcast", "https://podcastindex.org/namespace/1.0"))
        .with_attribute(("xmlns:atom", "http://www.w3.org/2005/Atom"))
        .write_inner_content(|w| {
            w.create_element("channel").write_inner_content(|w| {
                text(w, "title", &title)?;
                text(w, "link", &format!("{public_url}/"))?;
                w.create_element("atom:link")
                    .with_attribute(("href", format!("{base}.xml").as_str()))
                    .with_attribute(("rel", "self"))
                    .with_attribute(("type", "application/rss+xml"))
                    .write_empty()?;
                text(
                    w,
                    "description",
                    "Audio converted with mp3converter, newest first. This feed is private: \
                     its address is its key.",
                )?;
                text(w, "language", "en")?;
                text(w, "generator", "mp3converter")?;
                if let Some(newest) = jobs.first() {
                    let at = newest.finished_at.unwrap_or(newest.updated_at);
                    text(w, "lastBuildDate", &rfc2822(at))?;
                }
                w.create_element("image").write_inner_content(|w| {
                    text(w, "url", &format!("{public_url}/assets/podcast-cover.png"))?;
                    text(w, "title", &title)?;
                    text(w, "link", &format!("{public_url}/"))
                })?;
                w.create_element("itunes:image")
                    .with_attribute((
                        "href",
                        format!("{public_url}/assets/podcast-cover.png").as_str(),
                    ))
                    .write_empty()?;
                text(w, "itunes:author", "mp3converter")?;
                text(w, "itunes:explicit", "false")?;
                text(w, "itunes:type", "episodic")?;
                // Private: directories must not list it, platforms must not import it.
                text(w, "itunes:block", "Yes")?;
                text(w, "podcast:locked", "yes")?;
                w.create_element("itunes:category")
                    .with_attribute(("text", "Technology"))
                    .write_empty()?;
                for job in jobs {
                    item(w, base, job)?;
                }
                Ok(())
            })?;
            Ok(())
        })?;
    let mut xml = String::from_utf8(w.into_inner()).map_err(io::Error::other)?;
    xml.push('\n');
    Ok(xml)
}

fn item<W: io::Write>(w: &mut Writer<W>, base: &str, job: &Job) -> io::Result<()> {
    let options = &job.options;
    let audio = format!("{base}/{}.{}", job.id, options.output_extension());
    let published = job.finished_at.unwrap_or(job.updated_at);
    w.create_element("item").write_inner_content(|w| {
        let title = display_title(job);
        text(w, "title", &title)?;
        text(w, "itunes:title", &title)?;
        let mut description = format!(
            "{} ({}), converted by mp3converter.",
            job.original_name,
            options.format().extension().to_uppercase()
        );
        if let Some(artist) = options.artist.as_deref() {
            description = format!("{artist}. {description}");
        }
        text(w, "description", &description)?;
        w.create_element("guid")
            .with_attribute(("isPermaLink", "false"))
            .write_text_content(BytesText::new(job.id.as_str()))?;
        text(w, "pubDate", &rfc2822(published))?;
        w.create_element("enclosure")
            .with_attribute(("url", audio.as_str()))
            .with_attribute(("length", job.audio_size.unwrap_or(0).to_string().as_str()))
            .with_attribute(("type", options.output_content_type()))
            .write_empty()?;
        if let Some(secs) = job.duration_secs {
            text(
                w,
                "itunes:duration",
                &(secs.max(0.0).round() as u64).to_string(),
            )?;
        }
        if options.cover {
            w.create_element("itunes:image")
                .with_attribute(("href", format!("{base}/{}/cover", job.id).as_str()))
                .write_empty()?;
        }
        text(w, "itunes:episodeType", "full")?;
        text(w, "itunes:explicit", "false")?;
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_xml_cannot_carry_are_dropped() {
        assert_eq!(clean("a\u{1}b\tc\nd\u{ffff}é"), "ab\tc\ndé");
    }

    #[test]
    fn dates_are_rfc_2822() {
        assert_eq!(rfc2822(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn the_channel_is_named_after_the_host() {
        assert_eq!(host("https://mp3.example.com"), "mp3.example.com");
        assert_eq!(host("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
    }
}
