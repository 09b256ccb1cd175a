/* Skiff: shim for -target bpf (see types.h). */
#include <asm-generic/bitsperlong.h>
