/* What the test clients (lib_client.c, soak_client.c) read about their own
 * process from /proc: resident memory. */
#ifndef RF_TESTS_PROC_SELF_H
#define RF_TESTS_PROC_SELF_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* VmRSS in KiB, -1 when /proc cannot say. */
static inline long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0)
      kib = strtol(line + 6, NULL, 10);
  if (f)
    fclose(f);
  return kib;
}

#endif
