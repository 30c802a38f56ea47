#include "lmech/core.h"
#include <stdio.h>
int main(void) {
    printf("lmech %s\n", lm_version());
    return 0;
}
