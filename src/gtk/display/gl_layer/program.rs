//! The layer's one GL program: a full-viewport quad sampling the texture
//! (`u_tex`: the part of it shown), with the B,G,R,X bytes swapped back.
#![allow(unsafe_code)]

use super::GlError;
use glow::HasContext;

const VERTEX: &str = "
uniform vec4 u_tex;
out vec2 v_uv;
void main() {
    vec2 p = vec2(float(gl_VertexID & 1), float(gl_VertexID >> 1));
    v_uv = mix(u_tex.xy, u_tex.zw, p);
    gl_Position = vec4(p.x * 2.0 - 1.0, 1.0 - p.y * 2.0, 0.0, 1.0);
}
";

// The texture holds B,G,R,X bytes uploaded as RGBA (GLES has no BGRA upload
// without an extension): swap in the shader, and ignore X.
const FRAGMENT: &str = "
uniform sampler2D u_sampler;
in vec2 v_uv;
out vec4 o_color;
void main() {
    o_color = vec4(texture(u_sampler, v_uv).bgr, 1.0);
}
";

/// Compiles and links the program.
///
/// # Safety
/// A GL context must be current and `gl` must have been loaded for it.
pub(super) unsafe fn build_program(gl: &glow::Context, header: &str) -> Result<glow::Program, GlError> {
    // SAFETY: see the function's contract; only objects created here are used.
    unsafe {
        let program = gl.create_program().map_err(GlError::Gl)?;
        let mut shaders = Vec::new();
        for (stage, kind, body) in [
            ("vertex", glow::VERTEX_SHADER, VERTEX),
            ("fragment", glow::FRAGMENT_SHADER, FRAGMENT),
        ] {
            let shader = gl.create_shader(kind).map_err(GlError::Gl)?;
            gl.shader_source(shader, &format!("{header}{body}"));
            gl.compile_shader(shader);
            if !gl.get_shader_compile_status(shader) {
                let log = gl.get_shader_info_log(shader);
                gl.delete_shader(shader);
                gl.delete_program(program);
                return Err(GlError::Shader { stage, log });
            }
            gl.attach_shader(program, shader);
            shaders.push(shader);
        }
        gl.link_program(program);
        let linked = gl.get_program_link_status(program);
        for s in shaders {
            gl.detach_shader(program, s);
            gl.delete_shader(s);
        }
        if !linked {
            let log = gl.get_program_info_log(program);
            gl.delete_program(program);
            return Err(GlError::Shader { stage: "link", log });
        }
        Ok(program)
    }
}
