/* Skiff: minimal shim so <linux/types.h> resolves for -target bpf without
 * the host's multiarch include directory. */
#ifndef SKIFF_ASM_TYPES_H
#define SKIFF_ASM_TYPES_H
#include <asm-generic/int-ll64.h>
#endif
