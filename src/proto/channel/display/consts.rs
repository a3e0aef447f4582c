//! Message numbers and the protocol's enum and flag values.

/// Server message numbers.
pub mod msg {
    pub const MODE: u16 = 101;
    pub const MARK: u16 = 102;
    pub const RESET: u16 = 103;
    pub const COPY_BITS: u16 = 104;
    pub const INVAL_LIST: u16 = 105;
    pub const INVAL_ALL_PIXMAPS: u16 = 106;
    pub const INVAL_PALETTE: u16 = 107;
    pub const INVAL_ALL_PALETTES: u16 = 108;
    pub const STREAM_CREATE: u16 = 122;
    pub const STREAM_DATA: u16 = 123;
    pub const STREAM_CLIP: u16 = 124;
    pub const STREAM_DESTROY: u16 = 125;
    pub const STREAM_DESTROY_ALL: u16 = 126;
    pub const DRAW_FILL: u16 = 302;
    pub const DRAW_OPAQUE: u16 = 303;
    pub const DRAW_COPY: u16 = 304;
    pub const DRAW_BLEND: u16 = 305;
    pub const DRAW_BLACKNESS: u16 = 306;
    pub const DRAW_WHITENESS: u16 = 307;
    pub const DRAW_INVERS: u16 = 308;
    pub const DRAW_ROP3: u16 = 309;
    pub const DRAW_STROKE: u16 = 310;
    pub const DRAW_TEXT: u16 = 311;
    pub const DRAW_TRANSPARENT: u16 = 312;
    pub const DRAW_ALPHA_BLEND: u16 = 313;
    pub const SURFACE_CREATE: u16 = 314;
    pub const SURFACE_DESTROY: u16 = 315;
    pub const STREAM_DATA_SIZED: u16 = 316;
    pub const MONITORS_CONFIG: u16 = 317;
    pub const DRAW_COMPOSITE: u16 = 318;
    pub const STREAM_ACTIVATE_REPORT: u16 = 319;
    pub const GL_SCANOUT_UNIX: u16 = 320;
    pub const GL_DRAW: u16 = 321;
    pub const QUALITY_INDICATOR: u16 = 322;

    /// Whether `t` is one of the `DRAW_*` operations.
    pub const fn is_draw(t: u16) -> bool {
        matches!(t, DRAW_FILL..=DRAW_ALPHA_BLEND | DRAW_COMPOSITE)
    }
}

/// Client message numbers.
pub mod msgc {
    pub const INIT: u16 = 101;
    pub const STREAM_REPORT: u16 = 102;
    pub const PREFERRED_COMPRESSION: u16 = 103;
    pub const GL_DRAW_DONE: u16 = 104;
    pub const PREFERRED_VIDEO_CODEC_TYPE: u16 = 105;
}

/// `image_type`.
pub mod image_type {
    pub const BITMAP: u8 = 0;
    pub const QUIC: u8 = 1;
    pub const RESERVED: u8 = 2;
    pub const LZ_PLT: u8 = 100;
    pub const LZ_RGB: u8 = 101;
    pub const GLZ_RGB: u8 = 102;
    pub const FROM_CACHE: u8 = 103;
    pub const SURFACE: u8 = 104;
    pub const JPEG: u8 = 105;
    pub const FROM_CACHE_LOSSLESS: u8 = 106;
    pub const ZLIB_GLZ_RGB: u8 = 107;
    pub const JPEG_ALPHA: u8 = 108;
    pub const LZ4: u8 = 109;
}

/// `image_flags`.
pub mod image_flags {
    pub const CACHE_ME: u8 = 1 << 0;
    pub const HIGH_BITS_SET: u8 = 1 << 1;
    pub const CACHE_REPLACE_ME: u8 = 1 << 2;
}

/// `bitmap_fmt`.
pub mod bitmap_fmt {
    pub const INVALID: u8 = 0;
    pub const BIT1_LE: u8 = 1;
    pub const BIT1_BE: u8 = 2;
    pub const BIT4_LE: u8 = 3;
    pub const BIT4_BE: u8 = 4;
    pub const BIT8: u8 = 5;
    pub const BIT16: u8 = 6;
    pub const BIT24: u8 = 7;
    pub const BIT32: u8 = 8;
    pub const RGBA: u8 = 9;
    pub const BIT8_A: u8 = 10;
}

/// `bitmap_flags`.
pub mod bitmap_flags {
    pub const PAL_CACHE_ME: u8 = 1 << 0;
    pub const PAL_FROM_CACHE: u8 = 1 << 1;
    pub const TOP_DOWN: u8 = 1 << 2;
}

/// `brush_type`.
pub mod brush_type {
    pub const NONE: u8 = 0;
    pub const SOLID: u8 = 1;
    pub const PATTERN: u8 = 2;
}

/// `clip_type`.
pub mod clip_type {
    pub const NONE: u8 = 0;
    pub const RECTS: u8 = 1;
}

/// `mask_flags`.
pub mod mask_flags {
    pub const INVERS: u8 = 1 << 0;
}

/// `image_scale_mode`.
pub mod scale_mode {
    pub const INTERPOLATE: u8 = 0;
    pub const NEAREST: u8 = 1;
}

/// `ropd` (ROP descriptor bits).
pub mod ropd {
    pub const INVERS_SRC: u16 = 1 << 0;
    pub const INVERS_BRUSH: u16 = 1 << 1;
    pub const INVERS_DEST: u16 = 1 << 2;
    pub const OP_PUT: u16 = 1 << 3;
    pub const OP_OR: u16 = 1 << 4;
    pub const OP_AND: u16 = 1 << 5;
    pub const OP_XOR: u16 = 1 << 6;
    pub const OP_BLACKNESS: u16 = 1 << 7;
    pub const OP_WHITENESS: u16 = 1 << 8;
    pub const OP_INVERS: u16 = 1 << 9;
    pub const INVERS_RES: u16 = 1 << 10;
}

/// `surface_fmt`.
pub mod surface_fmt {
    pub const INVALID: u32 = 0;
    pub const A1: u32 = 1;
    pub const A8: u32 = 8;
    pub const RGB16_555: u32 = 16;
    pub const XRGB32: u32 = 32;
    pub const RGB16_565: u32 = 80;
    pub const ARGB32: u32 = 96;
}

/// `surface_flags`.
pub mod surface_flags {
    pub const PRIMARY: u32 = 1 << 0;
    pub const STREAMING_MODE: u32 = 1 << 1;
}

/// `image_compression` (PREFERRED_COMPRESSION).
pub mod image_compression {
    pub const INVALID: u8 = 0;
    pub const OFF: u8 = 1;
    pub const AUTO_GLZ: u8 = 2;
    pub const AUTO_LZ: u8 = 3;
    pub const QUIC: u8 = 4;
    pub const GLZ: u8 = 5;
    pub const LZ: u8 = 6;
    pub const LZ4: u8 = 7;
}

/// `video_codec_type`.
pub mod video_codec {
    pub const MJPEG: u8 = 1;
    pub const VP8: u8 = 2;
    pub const H264: u8 = 3;
    pub const VP9: u8 = 4;
    pub const H265: u8 = 5;
}
