/// Shared helpers of the CCodecs shim.
#include <stdlib.h>
#include "ccodecs.h"
#include "internal.h"

void cc_free(void *pointer) { free(pointer); }

void cc_copy_message(char *destination, size_t size, const char *text) {
    if (destination == NULL || size == 0) return;
    size_t i = 0;
    if (text != NULL) {
        for (; text[i] != 0 && i + 1 < size; i++) destination[i] = text[i];
    }
    destination[i] = 0;
}
