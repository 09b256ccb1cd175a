/* Skiff: shim for -target bpfel; the generic swab macros suffice. */
#include <linux/types.h>
