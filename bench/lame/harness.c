/* LAME alone: encodes interleaved stereo float PCM (44.1 kHz, f32le) at 192 kbps CBR, -q 3,
 * joint stereo (what the engine does by default) and prints the CPU time of the encode.
 * Built against each build of libmp3lame by bench/lame/builds.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <lame.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s in.f32 out.mp3\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (!in) return 1;
    fseek(in, 0, SEEK_END);
    long frames = ftell(in) / 8;
    fseek(in, 0, SEEK_SET);
    float *pcm = malloc(frames * 8);
    if (!pcm || fread(pcm, 8, frames, in) != (size_t)frames) return 1;
    fclose(in);

    lame_t g = lame_init();
    lame_set_num_channels(g, 2);
    lame_set_in_samplerate(g, 44100);
    lame_set_out_samplerate(g, 44100);
    lame_set_mode(g, JOINT_STEREO);
    lame_set_quality(g, 3);
    lame_set_bWriteVbrTag(g, 0);
    lame_set_VBR(g, vbr_off);
    lame_set_brate(g, 192);
    if (lame_init_params(g) < 0) return 1;

    static unsigned char out[1 << 16];
    FILE *o = fopen(argv[2], "wb");
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (long i = 0; i < frames; i += 4608) {
        int n = frames - i < 4608 ? (int)(frames - i) : 4608;
        int w = lame_encode_buffer_interleaved_ieee_float(g, pcm + 2 * i, n, out, sizeof out);
        fwrite(out, 1, w, o);
    }
    int w = lame_encode_flush(g, out, sizeof out);
    fwrite(out, 1, w, o);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    fclose(o);
    lame_close(g);
    printf("%.3f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    return 0;
}
