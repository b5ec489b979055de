//! Cover pictures made safe to pass on: whatever the source, an upload or a video frame gives,
//! the picture is decoded under strict limits and re-encoded by us as a baseline RGB JPEG, at
//! most [`MAX_COVER_SIDE`] pixels on its long side. A hostile picture's bytes are never copied
//! into an output.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use crate::MediaError;

/// Largest cover accepted as input, in bytes (embedded, uploaded or a video frame).
pub const MAX_COVER_BYTES: usize = 16 << 20;
/// Longest side of a cover we write, in pixels; larger pictures are scaled down to it.
pub const MAX_COVER_SIDE: u32 = 1200;
/// Largest picture decoded, per side, in pixels.
pub const MAX_DECODE_SIDE: u32 = 8192;
/// Most memory the decoder may allocate (an 8192x8192 RGBA picture, plus a margin).
const MAX_DECODE_ALLOC: u64 = 300 << 20;
/// JPEG quality of the covers we write.
const JPEG_QUALITY: u8 = 90;

/// A validated cover: always re-encoded by us as baseline JPEG, long side at most
/// [`MAX_COVER_SIDE`] (smaller pictures keep their size), RGB.
#[derive(Debug, Clone, PartialEq)]
pub struct Cover {
    /// The JPEG file's bytes.
    pub jpeg: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

fn bad(message: impl Into<String>) -> MediaError {
    MediaError::BadCover(message.into())
}

/// Decodes a JPEG, PNG or WebP picture with strict limits (at most
/// [`MAX_DECODE_SIDE`]x[`MAX_DECODE_SIDE`], bounded allocation: a "decompression bomb" header is
/// refused before anything is allocated for its pixels), and re-encodes it as a baseline RGB
/// JPEG, scaled down to [`MAX_COVER_SIDE`] on its long side. Transparent parts are put on
/// white.
///
/// Errors: [`MediaError::BadCover`] saying what is wrong, in words.
pub fn clean(bytes: &[u8]) -> Result<Cover, MediaError> {
    if bytes.is_empty() {
        return Err(bad("the cover image is empty"));
    }
    if bytes.len() > MAX_COVER_BYTES {
        return Err(bad(format!(
            "the cover image is {} MiB; at most {} MiB",
            bytes.len().div_ceil(1 << 20),
            MAX_COVER_BYTES >> 20
        )));
    }
    let format = match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) => f,
        _ => {
            return Err(bad("the cover image is not a JPEG, PNG or WebP picture"));
        }
    };
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let reader = |limits: Limits| {
        let mut r = ImageReader::with_format(Cursor::new(bytes), format);
        r.limits(limits);
        r
    };
    // The size from the header alone, to refuse a bomb in words before decoding.
    let (width, height) = reader(Limits::no_limits())
        .into_dimensions()
        .map_err(|e| bad(format!("the cover image is damaged ({e})")))?;
    if width > MAX_DECODE_SIDE || height > MAX_DECODE_SIDE {
        return Err(bad(format!(
            "the cover image is {width}x{height} pixels; at most {MAX_DECODE_SIDE}x{MAX_DECODE_SIDE}"
        )));
    }
    if width == 0 || height == 0 {
        return Err(bad("the cover image has no pixels"));
    }
    let decoded = decode(reader(limits.clone()), limits).map_err(|e| match e {
        image::ImageError::Limits(_) => bad(format!(
            "the cover image is {width}x{height} pixels, too large to read"
        )),
        e => bad(format!("the cover image is damaged ({e})")),
    })?;
    let rgb = on_white(decoded);
    let (w, h) = fitted(rgb.width(), rgb.height());
    let rgb = if (w, h) == (rgb.width(), rgb.height()) {
        rgb
    } else {
        image::imageops::resize(&rgb, w, h, image::imageops::FilterType::Triangle)
    };
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
        .encode_image(&rgb)
        .map_err(|e| bad(format!("the cover image could not be re-encoded ({e})")))?;
    Ok(Cover {
        jpeg,
        width: w,
        height: h,
    })
}

/// Decodes within `limits` (the pixel buffer is reserved against them before it is allocated)
/// and turns the picture upright by its EXIF orientation (phone photos), which the re-encoded
/// JPEG would otherwise lose.
fn decode(
    reader: ImageReader<Cursor<&[u8]>>,
    mut limits: Limits,
) -> image::ImageResult<DynamicImage> {
    let mut decoder = reader.into_decoder()?;
    limits.reserve(decoder.total_bytes())?;
    decoder.set_limits(limits)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// The picture as RGB, its transparent parts blended onto white.
fn on_white(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(px[3]);
        for c in 0..3 {
            let v = (u16::from(px[c]) * a + 255 * (255 - a) + 127) / 255;
            out[c] = v as u8;
        }
    }
    rgb
}

/// The size a `width`x`height` picture is written at: unchanged when its long side is at most
/// [`MAX_COVER_SIDE`], else scaled down to it keeping the aspect ratio (each side at least 1).
fn fitted(width: u32, height: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= MAX_COVER_SIDE {
        return (width, height);
    }
    let scale = |side: u32| {
        ((u64::from(side) * u64::from(MAX_COVER_SIDE) + u64::from(long) / 2) / u64::from(long))
            .max(1) as u32
    };
    (scale(width), scale(height))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn gradient(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        }))
    }

    fn decoded_size(jpeg: &[u8]) -> (u32, u32) {
        assert_eq!(image::guess_format(jpeg).unwrap(), ImageFormat::Jpeg);
        let image = image::load_from_memory_with_format(jpeg, ImageFormat::Jpeg).unwrap();
        (image.width(), image.height())
    }

    #[test]
    fn a_large_jpeg_is_scaled_down_to_1200_on_its_long_side() {
        let input = encode(&gradient(3000, 2000), ImageFormat::Jpeg);
        let cover = clean(&input).unwrap();
        assert_eq!((cover.width, cover.height), (1200, 800));
        assert_eq!(decoded_size(&cover.jpeg), (1200, 800));
        assert_ne!(cover.jpeg, input);
    }

    #[test]
    fn a_small_png_keeps_its_size_and_becomes_a_jpeg() {
        let input = encode(&gradient(300, 200), ImageFormat::Png);
        let cover = clean(&input).unwrap();
        assert_eq!((cover.width, cover.height), (300, 200));
        assert_eq!(decoded_size(&cover.jpeg), (300, 200));
        assert_ne!(cover.jpeg, input);
        // A JPEG in is a new JPEG out, never the same bytes.
        let again = clean(&cover.jpeg).unwrap();
        assert_ne!(again.jpeg, cover.jpeg);
        assert_eq!((again.width, again.height), (300, 200));
    }

    #[test]
    fn a_photo_is_turned_upright_by_its_exif_orientation() {
        let jpeg = encode(&gradient(40, 20), ImageFormat::Jpeg);
        // APP1 "Exif": a big-endian TIFF header and one IFD entry, Orientation (0x0112) = 6
        // (the camera was turned a quarter clockwise).
        let tiff: &[u8] = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";
        let mut app1 = vec![0xFF, 0xE1];
        app1.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
        app1.extend_from_slice(b"Exif\0\0");
        app1.extend_from_slice(tiff);
        let rotated = [&jpeg[..2], &app1, &jpeg[2..]].concat();
        let cover = clean(&rotated).unwrap();
        assert_eq!((cover.width, cover.height), (20, 40));
        assert_eq!(decoded_size(&cover.jpeg), (20, 40));
    }

    #[test]
    fn transparency_is_put_on_white() {
        let clear = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            16,
            16,
            image::Rgba([0, 0, 0, 0]),
        ));
        let cover = clean(&encode(&clear, ImageFormat::Png)).unwrap();
        let back = image::load_from_memory(&cover.jpeg).unwrap().into_rgb8();
        assert!(
            back.pixels().all(|p| p.0.iter().all(|&c| c > 245)),
            "{:?}",
            back.get_pixel(0, 0)
        );
    }

    /// A PNG whose IHDR claims `width`x`height` (valid CRC), with a tiny IDAT.
    fn png_claiming(width: u32, height: u32) -> Vec<u8> {
        let mut png = encode(&gradient(4, 4), ImageFormat::Png);
        // Signature (8), IHDR length (4), "IHDR" (4), then width and height.
        png[16..20].copy_from_slice(&width.to_be_bytes());
        png[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        png
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        let e = clean(&png_claiming(100_000, 100_000)).unwrap_err();
        assert_eq!(e.code(), "bad-cover");
        assert_eq!(
            e.to_string(),
            "the cover image is 100000x100000 pixels; at most 8192x8192"
        );
        // Inside the side limit but with no pixel data behind the header: damaged, not a panic
        // or a big allocation.
        let e = clean(&png_claiming(8000, 8000)).unwrap_err();
        assert!(e.to_string().starts_with("the cover image is"), "{e}");
    }

    #[test]
    fn random_bytes_and_cut_pictures_are_refused_in_words() {
        let mut noise = vec![0u8; 4096];
        let mut x = 0x1234_5678u32;
        for b in &mut noise {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        let e = clean(&noise).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the cover image is not a JPEG, PNG or WebP picture"
        );
        assert_eq!(clean(&[]).unwrap_err().code(), "bad-cover");
        let jpeg = encode(&gradient(64, 64), ImageFormat::Jpeg);
        for cut in [4, 20, 100] {
            assert_eq!(clean(&jpeg[..cut]).unwrap_err().code(), "bad-cover");
        }
        assert!(
            clean(&vec![0u8; MAX_COVER_BYTES + 1])
                .unwrap_err()
                .to_string()
                .contains("at most 16 MiB")
        );
    }

    #[test]
    fn fitting_keeps_the_aspect_ratio() {
        assert_eq!(fitted(3000, 2000), (1200, 800));
        assert_eq!(fitted(2000, 3000), (800, 1200));
        assert_eq!(fitted(1200, 1200), (1200, 1200));
        assert_eq!(fitted(8192, 1), (1200, 1));
        assert_eq!(fitted(10, 10), (10, 10));
    }
}
