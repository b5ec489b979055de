//! Messages on the wire: the properties the adapter publishes with, the headers that carry a
//! message's attempt count and last error, and `Incoming`, a received message not yet acked.

use lapin::message::Delivery as AmqpDelivery;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Acker, BasicProperties};

use crate::RabbitError;

/// Header: which delivery of the message the next one is (1 for a new message).
pub const ATTEMPT: &str = "x-attempt";
/// Header: deliveries allowed before the message is dead-lettered.
pub const MAX_ATTEMPTS: &str = "x-max-attempts";
/// Header: why the last delivery failed (set by retries and dead letters).
pub const LAST_ERROR: &str = "x-last-error";
/// Header: the queue a dead letter was taken from.
pub const DEAD_FROM: &str = "x-dead-from";

/// `delivery_mode` of messages written to disk.
const PERSISTENT: u8 = 2;
/// Error texts kept in headers are cut to this many bytes.
const MAX_ERROR_BYTES: usize = 1024;

/// The properties of a new message: persistent JSON with its id and attempt 1.
pub fn new_message(message_id: &str, max_attempts: u32) -> Result<BasicProperties, RabbitError> {
    let id = ShortString::try_new(message_id).map_err(|_| {
        RabbitError::Invalid(format!(
            "message id longer than 255 bytes: {message_id:.40}…"
        ))
    })?;
    let mut headers = FieldTable::default();
    headers.insert(ATTEMPT.into(), AMQPValue::LongUInt(1));
    headers.insert(MAX_ATTEMPTS.into(), AMQPValue::LongUInt(max_attempts));
    Ok(BasicProperties::default()
        .with_message_id(id)
        .with_content_type("application/json".into())
        .with_delivery_mode(PERSISTENT)
        .with_timestamp(unix_secs())
        .with_headers(headers))
}

/// A received message the adapter still has to ack (or copy and then ack).
#[derive(Debug)]
pub struct Incoming {
    /// The queue it was taken from.
    pub queue: String,
    /// Channel and delivery tag, for logs and `Delivery::id`.
    pub tag: String,
    /// The id given at publish ("" when the publisher set none).
    pub message_id: String,
    /// The delivery number stamped on this copy.
    pub attempt: u32,
    /// The deliveries allowed.
    pub max_attempts: u32,
    /// The broker delivered it before and it was not acked (the consumer or its connection
    /// went away): the stamped attempt was used up.
    pub redelivered: bool,
    /// The original properties and body, to publish copies with.
    pub properties: BasicProperties,
    pub body: Vec<u8>,
    pub acker: Acker,
}

impl Incoming {
    /// Reads the adapter's headers (defaults for messages from other publishers).
    pub fn new(queue: &str, channel: u16, d: AmqpDelivery, default_max: u32) -> Incoming {
        let headers = d.properties.headers().as_ref();
        let header = |key: &str| headers.and_then(|h| h.inner().get(key)).and_then(as_u32);
        Incoming {
            queue: queue.to_owned(),
            tag: format!("{channel}:{}", d.delivery_tag),
            message_id: d
                .properties
                .message_id()
                .as_ref()
                .map(|id| id.as_str().to_owned())
                .unwrap_or_default(),
            attempt: header(ATTEMPT).unwrap_or(1).max(1),
            max_attempts: header(MAX_ATTEMPTS).unwrap_or(default_max).max(1),
            redelivered: d.redelivered,
            properties: d.properties,
            body: d.data,
            acker: d.acker,
        }
    }

    /// The body as text (the port carries JSON strings).
    pub fn payload(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The properties of a copy stamped with `attempt`, and `error` as its last error.
    pub fn copy_properties(&self, attempt: u32, error: Option<&str>) -> BasicProperties {
        let mut headers = self.properties.headers().clone().unwrap_or_default();
        headers.insert(ATTEMPT.into(), AMQPValue::LongUInt(attempt));
        headers.insert(MAX_ATTEMPTS.into(), AMQPValue::LongUInt(self.max_attempts));
        if let Some(error) = error {
            let cut = truncate(error, MAX_ERROR_BYTES);
            headers.insert(
                LAST_ERROR.into(),
                AMQPValue::LongString(LongString::from(cut)),
            );
        }
        self.properties
            .clone()
            .with_delivery_mode(PERSISTENT)
            .with_headers(headers)
    }

    /// The properties of its dead letter: the last attempt and error, and where it came from.
    pub fn dead_properties(&self, error: &str) -> BasicProperties {
        let props = self.copy_properties(self.attempt, Some(error));
        let mut headers = props.headers().clone().unwrap_or_default();
        headers.insert(
            DEAD_FROM.into(),
            AMQPValue::LongString(LongString::from(self.queue.as_str())),
        );
        props.with_headers(headers)
    }
}

fn as_u32(v: &AMQPValue) -> Option<u32> {
    let n: i64 = match *v {
        AMQPValue::ShortShortInt(n) => n.into(),
        AMQPValue::ShortShortUInt(n) => n.into(),
        AMQPValue::ShortInt(n) => n.into(),
        AMQPValue::ShortUInt(n) => n.into(),
        AMQPValue::LongInt(n) => n.into(),
        AMQPValue::LongUInt(n) => n.into(),
        AMQPValue::LongLongInt(n) => n,
        _ => return None,
    };
    u32::try_from(n).ok()
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(props: BasicProperties) -> Incoming {
        let mut d = AmqpDelivery::mock(7, "".into(), "video".into(), false, b"{}".to_vec());
        d.properties = props;
        Incoming::new("video", 3, d, 5)
    }

    #[test]
    fn new_messages_are_persistent_first_attempts_and_copies_carry_the_count() {
        let props = new_message("job-1", 4).unwrap();
        assert_eq!(*props.delivery_mode(), Some(2));
        let m = received(props);
        assert_eq!(
            (m.message_id.as_str(), m.attempt, m.max_attempts),
            ("job-1", 1, 4)
        );
        assert_eq!((m.tag.as_str(), m.payload().as_str()), ("3:7", "{}"));

        let again = received(m.copy_properties(2, Some("storage down")));
        assert_eq!((again.attempt, again.max_attempts), (2, 4));
        assert_eq!(again.message_id, "job-1");
        let dead = again.dead_properties("gave up");
        let h = dead.headers().as_ref().unwrap().inner();
        assert_eq!(
            h.get(LAST_ERROR),
            Some(&AMQPValue::LongString("gave up".into()))
        );
        assert_eq!(
            h.get(DEAD_FROM),
            Some(&AMQPValue::LongString("video".into()))
        );
        assert_eq!(h.get(ATTEMPT), Some(&AMQPValue::LongUInt(2)));
    }

    #[test]
    fn messages_from_other_publishers_get_defaults() {
        let m = received(BasicProperties::default());
        assert_eq!(
            (m.message_id.as_str(), m.attempt, m.max_attempts),
            ("", 1, 5)
        );
        assert!(new_message(&"x".repeat(256), 5).is_err());
        assert_eq!(truncate("héllo", 2), "h");
    }
}
