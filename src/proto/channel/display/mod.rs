//! Display channel messages (`channel DisplayChannel` in spice.proto).
//!
//! Wire layout rules, checked against spice-common's generated demarshaller:
//! - Everything is packed little endian and inline, except members declared as
//!   pointers in spice.proto (`Image *`, `Palette *`, ...). Those are u32
//!   offsets counted from the start of the message body; 0 means "absent" and
//!   any other offset must lie inside the body.
//! - `Clip` rectangles are inline (`@to_ptr` only affects the C structure).
//! - A `BitmapData` is followed inline by `stride * y` pixel bytes; its palette
//!   is a pointer, or a u64 cache id when `PAL_FROM_CACHE` is set.
//! - Compressed images (`BinaryData` and friends) carry a u32 size then that
//!   many bytes, inline.
//!
//! Draw operations Sumac does not render yet are kept as raw
//! [`DisplayServer::Unparsed`] bodies so they can be counted and skipped.

use crate::channel_messages;
use crate::proto::base::{ClientBase, ServerBase, WaitForChannel};
use crate::proto::cursor::{ReadCursor, WriteCursor, checked_array_len};
use crate::proto::error::ProtoResult;

mod draw;
pub use draw::*;
mod stream;
pub use stream::*;

/// Most entries an INVAL_ALL_PIXMAPS wait list may carry (the count is a u8).
pub const MAX_WAIT_LIST: u64 = 255;

mod consts;
pub use consts::*;
mod geometry;
pub use geometry::*;
mod image;
pub use image::*;
mod paint;
pub use paint::*;
mod client;
pub use client::*;

/// Size of one `Rect` on the wire.
const RECT_LEN: u64 = 16;
/// Size of one `Head` on the wire.
const HEAD_LEN: u64 = 28;
/// Size of one `ResourceID` on the wire.
const RESOURCE_LEN: u64 = 9;
/// Size of one `WaitForChannel` on the wire.
const WAIT_LEN: u64 = 10;

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn body_len(body: &[u8]) -> u64 {
    u64::try_from(body.len()).unwrap_or(u64::MAX)
}

/// SURFACE_CREATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SurfaceCreate {
    pub surface_id: u32,
    pub width: u32,
    pub height: u32,
    /// One of [`surface_fmt`].
    pub format: u32,
    /// Bits of [`surface_flags`].
    pub flags: u32,
}

/// One `Head` of MONITORS_CONFIG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Head {
    pub monitor_id: u32,
    pub surface_id: u32,
    pub width: u32,
    pub height: u32,
    pub x: u32,
    pub y: u32,
    pub flags: u32,
}

/// One `ResourceID` of INVAL_LIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceId {
    pub resource_type: u8,
    pub id: u64,
}

/// Display channel, server to client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisplayServer {
    Base(ServerBase),
    Mode {
        x_res: u32,
        y_res: u32,
        bits: u32,
    },
    Mark,
    Reset,
    CopyBits {
        base: DisplayBase,
        src_pos: Point,
    },
    InvalList(Vec<ResourceId>),
    InvalAllPixmaps(Vec<WaitForChannel>),
    InvalPalette {
        id: u64,
    },
    InvalAllPalettes,
    StreamDestroy {
        id: u32,
    },
    StreamDestroyAll,
    StreamCreate(StreamCreate),
    StreamData(StreamData),
    StreamDataSized(StreamDataSized),
    StreamClip(StreamClip),
    StreamActivateReport(StreamActivateReport),
    DrawFill {
        base: DisplayBase,
        fill: FillOp,
    },
    DrawCopy {
        base: DisplayBase,
        copy: CopyOp,
    },
    DrawOpaque {
        base: DisplayBase,
        opaque: OpaqueOp,
    },
    /// BLEND has the layout (and rendering) of COPY.
    DrawBlend {
        base: DisplayBase,
        blend: CopyOp,
    },
    DrawBlackness {
        base: DisplayBase,
        mask: QMask,
    },
    DrawWhiteness {
        base: DisplayBase,
        mask: QMask,
    },
    DrawInvers {
        base: DisplayBase,
        mask: QMask,
    },
    DrawRop3 {
        base: DisplayBase,
        rop3: Rop3Op,
    },
    DrawStroke {
        base: DisplayBase,
        stroke: StrokeOp,
    },
    DrawText {
        base: DisplayBase,
        text: TextOp,
    },
    DrawTransparent {
        base: DisplayBase,
        transparent: TransparentOp,
    },
    DrawAlphaBlend {
        base: DisplayBase,
        alpha_blend: AlphaBlendOp,
    },
    DrawComposite {
        base: DisplayBase,
        composite: CompositeOp,
    },
    SurfaceCreate(SurfaceCreate),
    SurfaceDestroy {
        surface_id: u32,
    },
    MonitorsConfig {
        max_allowed: u16,
        heads: Vec<Head>,
    },
    GlDraw {
        x: u32,
        y: u32,
        w: u32,
        h: u32,
    },
    /// A known message Sumac does not decode yet (other draw ops, streams,
    /// GL scanout, quality indicator): the raw body.
    Unparsed {
        msg_type: u16,
        data: Vec<u8>,
    },
    Unknown {
        msg_type: u16,
        data: Vec<u8>,
    },
}

/// Message numbers kept as [`DisplayServer::Unparsed`].
fn is_unparsed(t: u16) -> bool {
    matches!(t, msg::GL_SCANOUT_UNIX | msg::QUALITY_INDICATOR)
}

impl DisplayServer {
    fn channel_msg_type(&self) -> u16 {
        match self {
            Self::Mode { .. } => msg::MODE,
            Self::Mark => msg::MARK,
            Self::Reset => msg::RESET,
            Self::CopyBits { .. } => msg::COPY_BITS,
            Self::InvalList(_) => msg::INVAL_LIST,
            Self::InvalAllPixmaps(_) => msg::INVAL_ALL_PIXMAPS,
            Self::InvalPalette { .. } => msg::INVAL_PALETTE,
            Self::InvalAllPalettes => msg::INVAL_ALL_PALETTES,
            Self::StreamDestroy { .. } => msg::STREAM_DESTROY,
            Self::StreamDestroyAll => msg::STREAM_DESTROY_ALL,
            Self::StreamCreate(_) => msg::STREAM_CREATE,
            Self::StreamData(_) => msg::STREAM_DATA,
            Self::StreamDataSized(_) => msg::STREAM_DATA_SIZED,
            Self::StreamClip(_) => msg::STREAM_CLIP,
            Self::StreamActivateReport(_) => msg::STREAM_ACTIVATE_REPORT,
            Self::DrawFill { .. } => msg::DRAW_FILL,
            Self::DrawCopy { .. } => msg::DRAW_COPY,
            Self::DrawOpaque { .. } => msg::DRAW_OPAQUE,
            Self::DrawBlend { .. } => msg::DRAW_BLEND,
            Self::DrawBlackness { .. } => msg::DRAW_BLACKNESS,
            Self::DrawWhiteness { .. } => msg::DRAW_WHITENESS,
            Self::DrawInvers { .. } => msg::DRAW_INVERS,
            Self::DrawRop3 { .. } => msg::DRAW_ROP3,
            Self::DrawStroke { .. } => msg::DRAW_STROKE,
            Self::DrawText { .. } => msg::DRAW_TEXT,
            Self::DrawTransparent { .. } => msg::DRAW_TRANSPARENT,
            Self::DrawAlphaBlend { .. } => msg::DRAW_ALPHA_BLEND,
            Self::DrawComposite { .. } => msg::DRAW_COMPOSITE,
            Self::SurfaceCreate(_) => msg::SURFACE_CREATE,
            Self::SurfaceDestroy { .. } => msg::SURFACE_DESTROY,
            Self::MonitorsConfig { .. } => msg::MONITORS_CONFIG,
            Self::GlDraw { .. } => msg::GL_DRAW,
            Self::Unparsed { msg_type, .. } => *msg_type,
            Self::Base(_) | Self::Unknown { .. } => 0,
        }
    }

    fn encode_channel_body(&self, out: &mut WriteCursor) {
        // Offsets count from the body start, so encode into a fresh buffer.
        let mut w = WriteCursor::new();
        let mut deferred = Deferred::default();
        match self {
            Self::Mode { x_res, y_res, bits } => {
                w.write_u32(*x_res);
                w.write_u32(*y_res);
                w.write_u32(*bits);
            }
            Self::CopyBits { base, src_pos } => {
                base.encode(&mut w);
                src_pos.encode(&mut w);
            }
            Self::InvalList(list) => {
                let n = u16::try_from(list.len()).unwrap_or(u16::MAX);
                w.write_u16(n);
                for res in list.iter().take(usize::from(n)) {
                    w.write_u8(res.resource_type);
                    w.write_u64(res.id);
                }
            }
            Self::InvalAllPixmaps(list) => {
                let n = u8::try_from(list.len()).unwrap_or(u8::MAX);
                w.write_u8(n);
                for c in list.iter().take(usize::from(n)) {
                    w.write_u8(c.channel_type);
                    w.write_u8(c.channel_id);
                    w.write_u64(c.message_serial);
                }
            }
            Self::InvalPalette { id } => w.write_u64(*id),
            Self::StreamDestroy { id } => w.write_u32(*id),
            Self::StreamCreate(s) => s.encode(&mut w),
            Self::StreamData(s) => s.encode(&mut w),
            Self::StreamDataSized(s) => s.encode(&mut w),
            Self::StreamClip(s) => s.encode(&mut w),
            Self::StreamActivateReport(s) => s.encode(&mut w),
            Self::DrawFill { base, fill } => {
                base.encode(&mut w);
                fill.brush.encode(&mut w, &mut deferred);
                w.write_u16(fill.rop_descriptor);
                fill.mask.encode(&mut w, &mut deferred);
            }
            Self::DrawCopy { base, copy } => {
                base.encode(&mut w);
                deferred.pointer(&mut w, copy.src_bitmap.as_ref());
                copy.src_area.encode(&mut w);
                w.write_u16(copy.rop_descriptor);
                w.write_u8(copy.scale_mode);
                copy.mask.encode(&mut w, &mut deferred);
            }
            Self::DrawOpaque { base, opaque } => {
                base.encode(&mut w);
                opaque.encode(&mut w);
            }
            Self::DrawBlend { base, blend } => {
                base.encode(&mut w);
                draw::encode_copy(blend, &mut w);
            }
            Self::DrawBlackness { base, mask }
            | Self::DrawWhiteness { base, mask }
            | Self::DrawInvers { base, mask } => {
                base.encode(&mut w);
                draw::encode_mask_only(mask, &mut w);
            }
            Self::DrawRop3 { base, rop3 } => {
                base.encode(&mut w);
                rop3.encode(&mut w);
            }
            Self::DrawStroke { base, stroke } => {
                base.encode(&mut w);
                stroke.encode(&mut w);
            }
            Self::DrawText { base, text } => {
                base.encode(&mut w);
                text.encode(&mut w);
            }
            Self::DrawTransparent { base, transparent } => {
                base.encode(&mut w);
                transparent.encode(&mut w);
            }
            Self::DrawAlphaBlend { base, alpha_blend } => {
                base.encode(&mut w);
                alpha_blend.encode(&mut w);
            }
            Self::DrawComposite { base, composite } => {
                base.encode(&mut w);
                composite.encode(&mut w);
            }
            Self::SurfaceCreate(s) => {
                for v in [s.surface_id, s.width, s.height, s.format, s.flags] {
                    w.write_u32(v);
                }
            }
            Self::SurfaceDestroy { surface_id } => w.write_u32(*surface_id),
            Self::MonitorsConfig { max_allowed, heads } => {
                let n = u16::try_from(heads.len()).unwrap_or(u16::MAX);
                w.write_u16(n);
                w.write_u16(*max_allowed);
                for h in heads.iter().take(usize::from(n)) {
                    for v in [h.monitor_id, h.surface_id, h.width, h.height, h.x, h.y, h.flags] {
                        w.write_u32(v);
                    }
                }
            }
            Self::GlDraw { x, y, w: width, h } => {
                for v in [*x, *y, *width, *h] {
                    w.write_u32(v);
                }
            }
            Self::Unparsed { data, .. } => w.write_slice(data),
            Self::Mark
            | Self::Reset
            | Self::InvalAllPalettes
            | Self::StreamDestroyAll
            | Self::Base(_)
            | Self::Unknown { .. } => {}
        }
        deferred.flush(&mut w);
        out.write_slice(w.as_slice());
    }

    fn decode_channel(msg_type: u16, body: &[u8]) -> ProtoResult<Self> {
        let mut r = ReadCursor::new(body);
        Ok(match msg_type {
            msg::MODE => Self::Mode {
                x_res: r.read_u32("mode x_res")?,
                y_res: r.read_u32("mode y_res")?,
                bits: r.read_u32("mode bits")?,
            },
            msg::MARK => Self::Mark,
            msg::RESET => Self::Reset,
            msg::COPY_BITS => Self::CopyBits {
                base: DisplayBase::decode(&mut r)?,
                src_pos: Point::decode(&mut r)?,
            },
            msg::INVAL_LIST => {
                let n = r.read_u16("inval_list count")?;
                let bytes = checked_array_len("inval_list resources", u64::from(n), RESOURCE_LEN, u64::MAX)?;
                r.ensure("inval_list resources", bytes)?;
                let mut list = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    list.push(ResourceId {
                        resource_type: r.read_u8("resource type")?,
                        id: r.read_u64("resource id")?,
                    });
                }
                Self::InvalList(list)
            }
            msg::INVAL_ALL_PIXMAPS => {
                let n = r.read_u8("inval_all_pixmaps wait_count")?;
                let bytes = checked_array_len(
                    "inval_all_pixmaps wait list",
                    u64::from(n),
                    WAIT_LEN,
                    MAX_WAIT_LIST * WAIT_LEN,
                )?;
                r.ensure("inval_all_pixmaps wait list", bytes)?;
                let mut list = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    list.push(WaitForChannel {
                        channel_type: r.read_u8("wait channel type")?,
                        channel_id: r.read_u8("wait channel id")?,
                        message_serial: r.read_u64("wait serial")?,
                    });
                }
                Self::InvalAllPixmaps(list)
            }
            msg::INVAL_PALETTE => Self::InvalPalette {
                id: r.read_u64("inval_palette id")?,
            },
            msg::INVAL_ALL_PALETTES => Self::InvalAllPalettes,
            msg::STREAM_DESTROY => Self::StreamDestroy {
                id: r.read_u32("stream_destroy id")?,
            },
            msg::STREAM_DESTROY_ALL => Self::StreamDestroyAll,
            msg::STREAM_CREATE => Self::StreamCreate(StreamCreate::decode(&mut r)?),
            msg::STREAM_DATA => Self::StreamData(StreamData::decode(&mut r)?),
            msg::STREAM_DATA_SIZED => Self::StreamDataSized(StreamDataSized::decode(&mut r)?),
            msg::STREAM_CLIP => Self::StreamClip(StreamClip::decode(&mut r)?),
            msg::STREAM_ACTIVATE_REPORT => Self::StreamActivateReport(StreamActivateReport::decode(&mut r)?),
            msg::DRAW_FILL => {
                let base = DisplayBase::decode(&mut r)?;
                let brush = Brush::decode(&mut r, body)?;
                let rop_descriptor = r.read_u16("fill rop_descriptor")?;
                let mask = QMask::decode(&mut r, body)?;
                Self::DrawFill {
                    base,
                    fill: FillOp {
                        brush,
                        rop_descriptor,
                        mask,
                    },
                }
            }
            msg::DRAW_COPY => {
                let base = DisplayBase::decode(&mut r)?;
                let src_off = r.read_u32("copy src_bitmap offset")?;
                let src_area = Rect::decode(&mut r)?;
                let rop_descriptor = r.read_u16("copy rop_descriptor")?;
                let scale_mode = r.read_u8("copy scale_mode")?;
                let mask = QMask::decode(&mut r, body)?;
                let src_bitmap = Image::decode_at(body, "copy src_bitmap", src_off)?;
                Self::DrawCopy {
                    base,
                    copy: CopyOp {
                        src_bitmap,
                        src_area,
                        rop_descriptor,
                        scale_mode,
                        mask,
                    },
                }
            }
            msg::DRAW_OPAQUE => Self::DrawOpaque {
                base: DisplayBase::decode(&mut r)?,
                opaque: OpaqueOp::decode(&mut r, body)?,
            },
            msg::DRAW_BLEND => Self::DrawBlend {
                base: DisplayBase::decode(&mut r)?,
                blend: draw::decode_copy(&mut r, body, "blend src_bitmap")?,
            },
            msg::DRAW_BLACKNESS => Self::DrawBlackness {
                base: DisplayBase::decode(&mut r)?,
                mask: draw::decode_mask_only(&mut r, body)?,
            },
            msg::DRAW_WHITENESS => Self::DrawWhiteness {
                base: DisplayBase::decode(&mut r)?,
                mask: draw::decode_mask_only(&mut r, body)?,
            },
            msg::DRAW_INVERS => Self::DrawInvers {
                base: DisplayBase::decode(&mut r)?,
                mask: draw::decode_mask_only(&mut r, body)?,
            },
            msg::DRAW_ROP3 => Self::DrawRop3 {
                base: DisplayBase::decode(&mut r)?,
                rop3: Rop3Op::decode(&mut r, body)?,
            },
            msg::DRAW_STROKE => Self::DrawStroke {
                base: DisplayBase::decode(&mut r)?,
                stroke: StrokeOp::decode(&mut r, body)?,
            },
            msg::DRAW_TEXT => Self::DrawText {
                base: DisplayBase::decode(&mut r)?,
                text: TextOp::decode(&mut r, body)?,
            },
            msg::DRAW_TRANSPARENT => Self::DrawTransparent {
                base: DisplayBase::decode(&mut r)?,
                transparent: TransparentOp::decode(&mut r, body)?,
            },
            msg::DRAW_ALPHA_BLEND => Self::DrawAlphaBlend {
                base: DisplayBase::decode(&mut r)?,
                alpha_blend: AlphaBlendOp::decode(&mut r, body)?,
            },
            msg::DRAW_COMPOSITE => Self::DrawComposite {
                base: DisplayBase::decode(&mut r)?,
                composite: CompositeOp::decode(&mut r, body)?,
            },
            msg::SURFACE_CREATE => Self::SurfaceCreate(SurfaceCreate {
                surface_id: r.read_u32("surface_create surface_id")?,
                width: r.read_u32("surface_create width")?,
                height: r.read_u32("surface_create height")?,
                format: r.read_u32("surface_create format")?,
                flags: r.read_u32("surface_create flags")?,
            }),
            msg::SURFACE_DESTROY => Self::SurfaceDestroy {
                surface_id: r.read_u32("surface_destroy surface_id")?,
            },
            msg::MONITORS_CONFIG => {
                let n = r.read_u16("monitors_config count")?;
                let max_allowed = r.read_u16("monitors_config max_allowed")?;
                let bytes = checked_array_len("monitors_config heads", u64::from(n), HEAD_LEN, u64::MAX)?;
                r.ensure("monitors_config heads", bytes)?;
                let mut heads = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    heads.push(Head {
                        monitor_id: r.read_u32("head monitor_id")?,
                        surface_id: r.read_u32("head surface_id")?,
                        width: r.read_u32("head width")?,
                        height: r.read_u32("head height")?,
                        x: r.read_u32("head x")?,
                        y: r.read_u32("head y")?,
                        flags: r.read_u32("head flags")?,
                    });
                }
                Self::MonitorsConfig { max_allowed, heads }
            }
            msg::GL_DRAW => Self::GlDraw {
                x: r.read_u32("gl_draw x")?,
                y: r.read_u32("gl_draw y")?,
                w: r.read_u32("gl_draw w")?,
                h: r.read_u32("gl_draw h")?,
            },
            t if is_unparsed(t) => Self::Unparsed {
                msg_type: t,
                data: body.to_vec(),
            },
            t => Self::Unknown {
                msg_type: t,
                data: body.to_vec(),
            },
        })
    }
}

channel_messages!(DisplayServer, DisplayClient);

#[cfg(test)]
mod tests;
