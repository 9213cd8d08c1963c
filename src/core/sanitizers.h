// Which sanitizer this code is built with (TEESPLIT_SANITIZE; docs/testing.md,
// "Sanitizers"). GCC says __SANITIZE_ADDRESS__ and __SANITIZE_THREAD__; clang 14
// says neither, only __has_feature. TEESPLIT_ASAN and TEESPLIT_TSAN are 1 or 0.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define TEESPLIT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEESPLIT_ASAN 1
#endif
#endif
#ifndef TEESPLIT_ASAN
#define TEESPLIT_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define TEESPLIT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEESPLIT_TSAN 1
#endif
#endif
#ifndef TEESPLIT_TSAN
#define TEESPLIT_TSAN 0
#endif
