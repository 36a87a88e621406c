/// Private declarations shared by the CCodecs sources (not part of the Swift module).
#pragma once
#include <stddef.h>

/// Copies `text` into `destination` (always NUL-terminated, truncated to `size`).
void cc_copy_message(char *destination, size_t size, const char *text);

