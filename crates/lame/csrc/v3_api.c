/* The entry points of LAME's x86-64-v3 copy (crates/lame/build.rs).
 *
 * That copy is the same source compiled a second time for CPUs with AVX2, with every symbol
 * hidden and then made local to one relocatable object, so that it cannot clash with the
 * baseline copy. These wrappers, prefixed `mp3c_v3_`, are the only names it exports.
 */
#include "lame.h"

#define V3 __attribute__((visibility("default")))

V3 lame_global_flags *mp3c_v3_lame_init(void) { return lame_init(); }
V3 int mp3c_v3_lame_close(lame_global_flags *g) { return lame_close(g); }
V3 int mp3c_v3_lame_init_params(lame_global_flags *g) { return lame_init_params(g); }
V3 int mp3c_v3_lame_set_num_channels(lame_global_flags *g, int v) { return lame_set_num_channels(g, v); }
V3 int mp3c_v3_lame_set_in_samplerate(lame_global_flags *g, int v) { return lame_set_in_samplerate(g, v); }
V3 int mp3c_v3_lame_set_out_samplerate(lame_global_flags *g, int v) { return lame_set_out_samplerate(g, v); }
V3 int mp3c_v3_lame_set_mode(lame_global_flags *g, MPEG_mode v) { return lame_set_mode(g, v); }
V3 int mp3c_v3_lame_set_quality(lame_global_flags *g, int v) { return lame_set_quality(g, v); }
V3 int mp3c_v3_lame_set_bWriteVbrTag(lame_global_flags *g, int v) { return lame_set_bWriteVbrTag(g, v); }
V3 void mp3c_v3_lame_set_write_id3tag_automatic(lame_global_flags *g, int v) { lame_set_write_id3tag_automatic(g, v); }
V3 int mp3c_v3_lame_set_disable_reservoir(lame_global_flags *g, int v) { return lame_set_disable_reservoir(g, v); }
V3 int mp3c_v3_lame_set_VBR(lame_global_flags *g, vbr_mode v) { return lame_set_VBR(g, v); }
V3 int mp3c_v3_lame_set_brate(lame_global_flags *g, int v) { return lame_set_brate(g, v); }
V3 int mp3c_v3_lame_set_VBR_q(lame_global_flags *g, int v) { return lame_set_VBR_q(g, v); }
V3 int mp3c_v3_lame_get_framesize(const lame_global_flags *g) { return lame_get_framesize(g); }
V3 int mp3c_v3_lame_get_encoder_delay(const lame_global_flags *g) { return lame_get_encoder_delay(g); }
V3 int mp3c_v3_lame_encode_buffer_ieee_float(lame_global_flags *g, const float *l, const float *r,
                                             int n, unsigned char *out, int cap) {
    return lame_encode_buffer_ieee_float(g, l, r, n, out, cap);
}
V3 int mp3c_v3_lame_encode_flush(lame_global_flags *g, unsigned char *out, int cap) {
    return lame_encode_flush(g, out, cap);
}
