/* hello: the smallest guest program; the exec and sh workloads run it. */
#include <stdio.h>

int main(void) {
  fputs("hello from a static i386 binary\n", stdout);
  return 0;
}
