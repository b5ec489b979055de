/* LAME's build configuration for mp3converter (crates/lame/build.rs), in place of the header
 * its autotools `configure` writes: the same definitions that script makes on Linux, so that the
 * encoder produces the same bytes as a distribution's libmp3lame (the tests check this).
 */
#ifndef MP3C_LAME_CONFIG_H
#define MP3C_LAME_CONFIG_H

#define STDC_HEADERS 1
#define HAVE_ERRNO_H 1
#define HAVE_FCNTL_H 1
#define HAVE_INTTYPES_H 1
#define HAVE_STDINT_H 1

typedef float ieee754_float32_t;

#if defined(__x86_64__) || defined(__i386__)
/* configure's x86 settings: float bit tricks in the quantiser and a table-driven log2. */
# define TAKEHIRO_IEEE754_HACK 1
# define USE_FAST_LOG 1
#endif

#if defined(__SSE2__)
/* SSE is part of every x86-64 CPU. `configure` leaves MIN_ARCH_SSE undefined, and LAME then runs
 * plain C loops where it has SSE code (the FFT, the quantiser's x^(3/4), the max search), about
 * 20 % more CPU for the same output. */
# define HAVE_XMMINTRIN_H 1
# define MIN_ARCH_SSE 1
#endif

#endif
