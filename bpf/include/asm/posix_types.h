/* Skiff: shim for -target bpf (see types.h). */
#include <asm-generic/posix_types.h>
