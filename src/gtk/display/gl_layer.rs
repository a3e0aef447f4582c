//! The OpenGL screen layer, drawn in a `GtkGLArea` with glow: one persistent
//! texture per monitor rectangle of the primary surface, `glTexSubImage2D`
//! of the damaged rectangles only, and scaling on the GPU (nearest at 1:1,
//! linear otherwise). Moved pixels (COPY_BITS: a scrolling terminal) are not
//! uploaded again: the layer follows the display state's journal and moves
//! them inside the texture (`glBlitFramebuffer` through a scratch texture).
//!
//! GL entry points come from libepoxy (which GTK itself uses), loaded with
//! libloading (`gl_layer/loader.rs`); the shaders are in
//! `gl_layer/program.rs`. This module and those two files are the only
//! places of the widget with `unsafe`: every block says why it is sound.
#![allow(unsafe_code)]

use super::damage::{Area, Source, catch_up, copy_area};
use super::scaling::Placement;
use crate::display::{DisplayState, JournalCursor, PlannedMove, Surface};
use glow::HasContext;

mod loader;
mod program;
use loader::load_gl;
pub(crate) use loader::{probe_renderer, use_gsk_cairo};
use program::build_program;

/// Why the GL layer could not start or draw.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum GlError {
    #[error("libepoxy could not be loaded: {0}")]
    Loader(String),
    #[error("OpenGL error: {0}")]
    Gl(String),
    #[error("shader {stage} failed: {log}")]
    Shader { stage: &'static str, log: String },
    #[error("a {width}x{height} texture exceeds this GPU's limit of {max}")]
    TooLarge { width: u32, height: u32, max: i32 },
}

/// GL objects of one realized GLArea.
pub(crate) struct GlLayer {
    gl: glow::Context,
    program: glow::Program,
    vao: glow::VertexArray,
    texture: glow::Texture,
    u_tex: Option<glow::UniformLocation>,
    u_sampler: Option<glow::UniformLocation>,
    max_texture: i32,
    /// The monitor rectangle the texture holds.
    rect: Option<Area>,
    /// Damaged rectangles copied out of the shared state, waiting for upload.
    staging: Vec<u8>,
    pending: Vec<(Area, usize)>,
    /// Moves to replay on the texture before those uploads (texture pixels).
    moves: Vec<PlannedMove>,
    /// Where the texture is in the display state's journal.
    journal: Option<JournalCursor>,
    /// Framebuffers and scratch texture for the moves, made on first use.
    blit: Option<Blit>,
}

/// What moving pixels inside the texture needs: the texture is copied to
/// `scratch` and back, since a blit within one texture may not overlap.
struct Blit {
    texture_fb: glow::Framebuffer,
    scratch_fb: glow::Framebuffer,
    scratch: glow::Texture,
    width: i32,
    height: i32,
}

impl std::fmt::Debug for GlLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlLayer")
            .field("rect", &self.rect)
            .finish_non_exhaustive()
    }
}

impl GlLayer {
    /// Creates the program and texture. The GLArea's context must be current.
    pub(crate) fn new(es: bool) -> Result<GlLayer, GlError> {
        let gl = load_gl()?;
        let header = if es {
            "#version 300 es\nprecision highp float;\nprecision highp int;\n"
        } else {
            "#version 150\n"
        };
        // SAFETY (all blocks below): plain GL calls on the current context
        // with objects this function created; no pointers are passed.
        let program = unsafe { build_program(&gl, header)? };
        let vao = unsafe { gl.create_vertex_array() }.map_err(GlError::Gl)?;
        let texture = unsafe { gl.create_texture() }.map_err(GlError::Gl)?;
        let (u_tex, u_sampler, max_texture) = unsafe {
            (
                gl.get_uniform_location(program, "u_tex"),
                gl.get_uniform_location(program, "u_sampler"),
                gl.get_parameter_i32(glow::MAX_TEXTURE_SIZE),
            )
        };
        Ok(GlLayer {
            gl,
            program,
            vao,
            texture,
            u_tex,
            u_sampler,
            max_texture,
            rect: None,
            staging: Vec::new(),
            pending: Vec::new(),
            moves: Vec::new(),
            journal: None,
            blit: None,
        })
    }

    /// Whether the texture must be (re)allocated for `source`: then every
    /// pixel of the monitor rectangle must be copied again.
    pub(crate) fn needs_full(&self, source: &Source) -> bool {
        self.rect != Some(source.rect)
    }

    /// Copies the damaged `areas` out of `surface` into the staging buffer
    /// (the caller holds the display-state lock only for this).
    pub(crate) fn stage(&mut self, source: &Source, surface: &Surface, areas: &[Area]) -> bool {
        self.pending.clear();
        if self.rect != Some(source.rect) {
            self.pending.push((source.rect, usize::MAX));
        }
        let total: u64 = areas.iter().map(|a| u64::from(a.w) * u64::from(a.h) * 4).sum();
        let Ok(total) = usize::try_from(total) else {
            return false;
        };
        self.staging.clear();
        if self.staging.try_reserve(total).is_err() {
            tracing::warn!(bytes = total, "GL layer: cannot allocate the staging buffer");
            return false;
        }
        for a in areas {
            let offset = self.staging.len();
            let Some(len) = usize::try_from(a.w)
                .ok()
                .and_then(|w| w.checked_mul(4))
                .and_then(|r| r.checked_mul(usize::try_from(a.h).ok()?))
            else {
                continue;
            };
            let Some(end) = offset.checked_add(len) else { continue };
            self.staging.resize(end, 0);
            let Some(dst) = self.staging.get_mut(offset..end) else {
                continue;
            };
            let row = usize::try_from(a.w).unwrap_or(0).saturating_mul(4);
            if copy_area(surface, a, dst, row, 0, 0) {
                self.pending.push((*a, offset));
            } else {
                self.staging.truncate(offset);
            }
        }
        true
    }

    /// Follows the display state's journal (the lock is held): stages the
    /// moves since the last frame and the rectangles drawn, or everything
    /// when `full` or when the journal cannot say.
    pub(crate) fn sync(&mut self, source: &Source, state: &mut DisplayState, full: bool) {
        // A texture of another size is allocated again: everything then.
        let cursor = self.journal.filter(|_| !full && self.rect == Some(source.rect));
        let step = catch_up(state, source, cursor);
        self.moves.clear();
        let staged = state
            .surface(source.surface_id)
            .is_some_and(|surface| self.stage(source, surface, &step.areas));
        if staged {
            self.journal = step.cursor;
            self.moves = step.moves;
        } else {
            // Nothing staged: everything again next time.
            self.journal = None;
            self.pending.clear();
        }
    }

    /// Replays [`Self::moves`] on the texture (context current).
    ///
    /// # Safety
    /// The layer's context must be current.
    unsafe fn replay_moves(&mut self) -> Result<(), GlError> {
        if self.moves.is_empty() {
            return Ok(());
        }
        let bbox = |m: &PlannedMove| {
            m.boxes.iter().fold(None, |acc: Option<(u32, u32, u32, u32)>, b| {
                let (x1, y1) = (b.x.saturating_add(b.w), b.y.saturating_add(b.h));
                Some(match acc {
                    None => (b.x, b.y, x1, y1),
                    Some((a0, b0, a1, b1)) => (a0.min(b.x), b0.min(b.y), a1.max(x1), b1.max(y1)),
                })
            })
        };
        let (mut need_w, mut need_h) = (1i32, 1i32);
        for m in &self.moves {
            if let Some((x0, y0, x1, y1)) = bbox(m) {
                need_w = need_w.max(i32::try_from(x1 - x0).unwrap_or(i32::MAX));
                need_h = need_h.max(i32::try_from(y1 - y0).unwrap_or(i32::MAX));
            }
        }
        if need_w > self.max_texture || need_h > self.max_texture {
            return Err(GlError::TooLarge {
                width: u32::try_from(need_w).unwrap_or(0),
                height: u32::try_from(need_h).unwrap_or(0),
                max: self.max_texture,
            });
        }
        let gl = &self.gl;
        // SAFETY: the context is current (the caller's contract); only this
        // layer's objects are bound, and the previous framebuffer bindings
        // (GtkGLArea's) are restored before returning.
        unsafe {
            if self.blit.is_none() {
                let texture_fb = gl.create_framebuffer().map_err(GlError::Gl)?;
                let scratch_fb = gl.create_framebuffer().map_err(GlError::Gl)?;
                let scratch = gl.create_texture().map_err(GlError::Gl)?;
                self.blit = Some(Blit {
                    texture_fb,
                    scratch_fb,
                    scratch,
                    width: 0,
                    height: 0,
                });
            }
            let Some(blit) = self.blit.as_mut() else { return Ok(()) };
            if blit.width < need_w || blit.height < need_h {
                blit.width = blit.width.max(need_w);
                blit.height = blit.height.max(need_h);
                gl.bind_texture(glow::TEXTURE_2D, Some(blit.scratch));
                gl.tex_image_2d(
                    glow::TEXTURE_2D,
                    0,
                    glow::RGBA8 as i32,
                    blit.width,
                    blit.height,
                    0,
                    glow::RGBA,
                    glow::UNSIGNED_BYTE,
                    glow::PixelUnpackData::Slice(None),
                );
                gl.tex_parameter_i32(glow::TEXTURE_2D, glow::TEXTURE_MIN_FILTER, glow::NEAREST as i32);
                gl.tex_parameter_i32(glow::TEXTURE_2D, glow::TEXTURE_MAG_FILTER, glow::NEAREST as i32);
            }
            let framebuffer = |v: i32| {
                u32::try_from(v)
                    .ok()
                    .and_then(std::num::NonZeroU32::new)
                    .map(glow::NativeFramebuffer)
            };
            let prev_read = framebuffer(gl.get_parameter_i32(glow::READ_FRAMEBUFFER_BINDING));
            let prev_draw = framebuffer(gl.get_parameter_i32(glow::DRAW_FRAMEBUFFER_BINDING));
            gl.disable(glow::SCISSOR_TEST);
            gl.bind_framebuffer(glow::READ_FRAMEBUFFER, Some(blit.texture_fb));
            gl.framebuffer_texture_2d(
                glow::READ_FRAMEBUFFER,
                glow::COLOR_ATTACHMENT0,
                glow::TEXTURE_2D,
                Some(self.texture),
                0,
            );
            gl.bind_framebuffer(glow::DRAW_FRAMEBUFFER, Some(blit.scratch_fb));
            gl.framebuffer_texture_2d(
                glow::DRAW_FRAMEBUFFER,
                glow::COLOR_ATTACHMENT0,
                glow::TEXTURE_2D,
                Some(blit.scratch),
                0,
            );
            let complete = gl.check_framebuffer_status(glow::READ_FRAMEBUFFER) == glow::FRAMEBUFFER_COMPLETE
                && gl.check_framebuffer_status(glow::DRAW_FRAMEBUFFER) == glow::FRAMEBUFFER_COMPLETE;
            let mut result = Ok(());
            if complete {
                let c = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
                for m in &self.moves {
                    let Some((x0, y0, x1, y1)) = bbox(m) else { continue };
                    let (w, h) = (c(x1 - x0), c(y1 - y0));
                    // Sources first (all of them), into the scratch texture…
                    let (sx, sy) = (c(x0).saturating_sub(m.dx), c(y0).saturating_sub(m.dy));
                    gl.bind_framebuffer(glow::READ_FRAMEBUFFER, Some(blit.texture_fb));
                    gl.bind_framebuffer(glow::DRAW_FRAMEBUFFER, Some(blit.scratch_fb));
                    gl.blit_framebuffer(
                        sx,
                        sy,
                        sx.saturating_add(w),
                        sy.saturating_add(h),
                        0,
                        0,
                        w,
                        h,
                        glow::COLOR_BUFFER_BIT,
                        glow::NEAREST,
                    );
                    // …then back into each destination box.
                    gl.bind_framebuffer(glow::READ_FRAMEBUFFER, Some(blit.scratch_fb));
                    gl.bind_framebuffer(glow::DRAW_FRAMEBUFFER, Some(blit.texture_fb));
                    for b in &m.boxes {
                        let (ox, oy) = (c(b.x - x0), c(b.y - y0));
                        let (bw, bh) = (c(b.w), c(b.h));
                        gl.blit_framebuffer(
                            ox,
                            oy,
                            ox.saturating_add(bw),
                            oy.saturating_add(bh),
                            c(b.x),
                            c(b.y),
                            c(b.x).saturating_add(bw),
                            c(b.y).saturating_add(bh),
                            glow::COLOR_BUFFER_BIT,
                            glow::NEAREST,
                        );
                    }
                }
            } else {
                result = Err(GlError::Gl(
                    "the framebuffers for moving pixels are incomplete".to_owned(),
                ));
            }
            gl.bind_framebuffer(glow::READ_FRAMEBUFFER, prev_read);
            gl.bind_framebuffer(glow::DRAW_FRAMEBUFFER, prev_draw);
            self.moves.clear();
            result
        }
    }

    /// Uploads what [`Self::stage`] copied (context current, lock released).
    pub(crate) fn upload(&mut self, source: &Source) -> Result<(), GlError> {
        // SAFETY: the GLArea made the layer's context current for the render.
        unsafe { self.replay_moves()? };
        let gl = &self.gl;
        // SAFETY: the texture belongs to this context; each slice passed to
        // tex_sub_image_2d holds exactly w*h*4 bytes (checked in `stage`),
        // which is what GL reads with UNPACK_ROW_LENGTH 0 and alignment 4.
        unsafe {
            gl.bind_texture(glow::TEXTURE_2D, Some(self.texture));
            gl.pixel_store_i32(glow::UNPACK_ALIGNMENT, 4);
            gl.pixel_store_i32(glow::UNPACK_ROW_LENGTH, 0);
            for (area, offset) in &self.pending {
                if *offset == usize::MAX {
                    let (w, h) = (area.w, area.h);
                    let (Ok(wi), Ok(hi)) = (i32::try_from(w), i32::try_from(h)) else {
                        return Err(GlError::TooLarge {
                            width: w,
                            height: h,
                            max: self.max_texture,
                        });
                    };
                    if wi > self.max_texture || hi > self.max_texture {
                        return Err(GlError::TooLarge {
                            width: w,
                            height: h,
                            max: self.max_texture,
                        });
                    }
                    gl.tex_image_2d(
                        glow::TEXTURE_2D,
                        0,
                        glow::RGBA8 as i32,
                        wi,
                        hi,
                        0,
                        glow::RGBA,
                        glow::UNSIGNED_BYTE,
                        glow::PixelUnpackData::Slice(None),
                    );
                    gl.tex_parameter_i32(glow::TEXTURE_2D, glow::TEXTURE_WRAP_S, glow::CLAMP_TO_EDGE as i32);
                    gl.tex_parameter_i32(glow::TEXTURE_2D, glow::TEXTURE_WRAP_T, glow::CLAMP_TO_EDGE as i32);
                    self.rect = Some(source.rect);
                    continue;
                }
                let Some(end) = usize::try_from(area.w)
                    .ok()
                    .and_then(|w| w.checked_mul(usize::try_from(area.h).ok()?)?.checked_mul(4))
                    .and_then(|len| offset.checked_add(len))
                else {
                    continue;
                };
                let Some(data) = self.staging.get(*offset..end) else {
                    continue;
                };
                let x = area.x.saturating_sub(source.rect.x);
                let y = area.y.saturating_sub(source.rect.y);
                let (Ok(x), Ok(y), Ok(w), Ok(h)) = (
                    i32::try_from(x),
                    i32::try_from(y),
                    i32::try_from(area.w),
                    i32::try_from(area.h),
                ) else {
                    continue;
                };
                gl.tex_sub_image_2d(
                    glow::TEXTURE_2D,
                    0,
                    x,
                    y,
                    w,
                    h,
                    glow::RGBA,
                    glow::UNSIGNED_BYTE,
                    glow::PixelUnpackData::Slice(Some(data)),
                );
            }
        }
        self.pending.clear();
        // Keep the staging buffer for the next frame unless it grew large.
        if self.staging.capacity() > (16 << 20) {
            self.staging = Vec::new();
        }
        Ok(())
    }

    /// Clears the framebuffer (`fb_width` × `fb_height` device pixels) to
    /// black and draws the texture at `placement`.
    pub(crate) fn draw(&self, fb_width: i32, fb_height: i32, placement: Option<&Placement>) {
        let gl = &self.gl;
        // SAFETY: plain GL calls on the current context with this layer's objects.
        unsafe {
            gl.disable(glow::SCISSOR_TEST);
            gl.disable(glow::BLEND);
            gl.viewport(0, 0, fb_width, fb_height);
            gl.clear_color(0.0, 0.0, 0.0, 1.0);
            gl.clear(glow::COLOR_BUFFER_BIT);
            let (Some(p), Some(_)) = (placement, self.rect) else {
                return;
            };
            let (Ok(x), Ok(y), Ok(w), Ok(h)) = (
                i32::try_from(p.device_x),
                i32::try_from(p.device_y),
                i32::try_from(p.device_width),
                i32::try_from(p.device_height),
            ) else {
                return;
            };
            // GL's origin is the bottom-left corner.
            gl.viewport(x, fb_height.saturating_sub(y.saturating_add(h)), w, h);
            let filter = if p.is_one_to_one() { glow::NEAREST } else { glow::LINEAR } as i32;
            gl.use_program(Some(self.program));
            gl.bind_vertex_array(Some(self.vao));
            gl.active_texture(glow::TEXTURE0);
            gl.bind_texture(glow::TEXTURE_2D, Some(self.texture));
            gl.tex_parameter_i32(glow::TEXTURE_2D, glow::TEXTURE_MIN_FILTER, filter);
            gl.tex_parameter_i32(glow::TEXTURE_2D, glow::TEXTURE_MAG_FILTER, filter);
            gl.uniform_1_i32(self.u_sampler.as_ref(), 0);
            gl.uniform_4_f32(self.u_tex.as_ref(), 0.0, 0.0, 1.0, 1.0);
            gl.draw_arrays(glow::TRIANGLE_STRIP, 0, 4);
            gl.bind_vertex_array(None);
            gl.use_program(None);
        }
    }

    /// Deletes the GL objects (the context must be current).
    pub(crate) fn destroy(self) {
        // SAFETY: the objects belong to this context and are not used again.
        unsafe {
            if let Some(b) = &self.blit {
                self.gl.delete_framebuffer(b.texture_fb);
                self.gl.delete_framebuffer(b.scratch_fb);
                self.gl.delete_texture(b.scratch);
            }
            self.gl.delete_texture(self.texture);
            self.gl.delete_vertex_array(self.vao);
            self.gl.delete_program(self.program);
        }
    }
}
