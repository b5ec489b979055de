//! Back-pressure for upload bodies. The multipart parser (multer) reads its input for as long as
//! the input is ready, so a client faster than storage (loopback, a LAN) would have its whole
//! upload buffered in memory. [`pace_body`] makes the request body pause — ready again at once —
//! after every [`BUDGET`] bytes, which ends each of the parser's read loops there; the parser's
//! buffer then never holds much more than that.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, BodyDataStream};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use futures_util::Stream;

/// Bytes handed to the parser before the body pauses.
pub(crate) const BUDGET: usize = 512 * 1024;

/// A body stream that yields `Pending` (with an immediate wake-up) after each [`BUDGET`] bytes.
struct Paced {
    inner: BodyDataStream,
    since_pause: usize,
}

impl Stream for Paced {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.since_pause >= BUDGET {
            self.since_pause = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.since_pause += chunk.len();
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Pending => {
                self.since_pause = 0;
                Poll::Pending
            }
            other => other,
        }
    }
}

/// Middleware of the upload routes: replaces the request body with its paced form.
pub(crate) async fn pace_body(request: Request, next: Next) -> Response {
    let request = request.map(|body| {
        Body::from_stream(Paced {
            inner: body.into_data_stream(),
            since_pause: 0,
        })
    });
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[tokio::test]
    async fn the_body_pauses_after_each_budget_and_loses_nothing() {
        let chunks = (0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![1u8; BUDGET / 4])));
        let mut paced = Paced {
            inner: Body::from_stream(futures_util::stream::iter(chunks)).into_data_stream(),
            since_pause: 0,
        };
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut ready_in_a_row = 0;
        let mut longest = 0;
        let mut total = 0;
        loop {
            match Pin::new(&mut paced).poll_next(&mut cx) {
                Poll::Ready(Some(chunk)) => {
                    total += chunk.unwrap().len();
                    ready_in_a_row += 1;
                    longest = longest.max(ready_in_a_row);
                }
                Poll::Ready(None) => break,
                Poll::Pending => ready_in_a_row = 0,
            }
        }
        assert_eq!(total, 10 * BUDGET / 4);
        assert_eq!(longest, 4, "at most BUDGET bytes between pauses");
        assert!(paced.next().await.is_none());
    }
}
