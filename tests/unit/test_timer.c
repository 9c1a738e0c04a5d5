/* The engine's timer heap: deadlines fire in order, moving a deadline later
 * is honoured lazily, cancelled timers never fire. */
#include <stdio.h>
#include <stdlib.h>

#include "engine/internal.h"

static int failures;
#define CHECK(c)                                                                 \
  do {                                                                           \
    if (!(c)) {                                                                  \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);      \
      failures++;                                                                \
    }                                                                            \
  } while (0)

#define N 5000

int main(void) {
  rf_timers t;
  CHECK(rf_timers_init(&t, 4) == 0); /* small: exercises growth */
  static rf_timer tm[N];
  unsigned seed = 12345;
  for (int i = 0; i < N; i++) {
    seed = seed * 1103515245u + 12345u;
    rf_timer_set(&t, &tm[i], 1 + (seed >> 8) % 100000);
  }
  /* move a third later, cancel a third */
  for (int i = 0; i < N; i += 3)
    rf_timer_set(&t, &tm[i], tm[i].due + 50000);
  for (int i = 1; i < N; i += 3)
    rf_timer_set(&t, &tm[i], 0);
  CHECK(rf_timers_next(&t) != UINT64_MAX);

  uint64_t last = 0;
  int fired = 0;
  for (uint64_t now = 0; now <= 200000; now += 97) {
    rf_timer *x;
    while ((x = rf_timers_expired(&t, now)) != NULL) {
      int i = (int)(x - tm);
      CHECK(i % 3 != 1);             /* cancelled ones never fire */
      CHECK(x->key <= now);          /* never early */
      CHECK(now < x->key + 97);      /* never late: fires at the first check after it is due */
      CHECK(x->key >= last);         /* in deadline order */
      last = x->key;
      fired++;
    }
  }
  CHECK(fired == N - (N + 1) / 3);
  CHECK(rf_timers_next(&t) == UINT64_MAX);

  /* an earlier deadline replaces a later one at once */
  rf_timer a = {0}, b = {0};
  rf_timer_set(&t, &a, 1000);
  rf_timer_set(&t, &b, 2000);
  rf_timer_set(&t, &b, 500);
  CHECK(rf_timers_next(&t) == 500);
  CHECK(rf_timers_expired(&t, 499) == NULL);
  CHECK(rf_timers_expired(&t, 500) == &b);
  /* a later deadline is not fired at the old time */
  rf_timer_set(&t, &a, 3000);
  CHECK(rf_timers_expired(&t, 1000) == NULL);
  CHECK(rf_timers_expired(&t, 2999) == NULL);
  CHECK(rf_timers_expired(&t, 3000) == &a);
  CHECK(rf_timers_expired(&t, 100000) == NULL);
  rf_timers_free(&t);
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
