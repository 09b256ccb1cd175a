/* Skiff: shim for -target bpfel (programs here are little-endian only). */
#ifndef SKIFF_ASM_BYTEORDER_H
#define SKIFF_ASM_BYTEORDER_H
#include <linux/byteorder/little_endian.h>
#endif
