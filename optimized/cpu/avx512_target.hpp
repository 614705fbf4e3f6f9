#pragma once
// AVX-512 in functions marked G4_AVX512, entered only after a run-time CPU check, so the library
// is built without global -mavx512 flags and still runs on CPUs without AVX-512.
//
// GCC 12's AVX-512 intrinsics trip -W(maybe-)uninitialized on their own _mm*_undefined_*
// pass-through (GCC PR 105593, fixed in 12.3/13); the warning is about the header, not our code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#define G4_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
