/* Timers: an indexed binary min-heap of rf_timer pointers.
 *
 * Most deadlines are pushed later (each received byte restarts the read
 * timeout) and almost none fire, so moving a deadline later only writes
 * rf_timer.due; the heap entry keeps its earlier key and is re-filed when it
 * reaches the top. */
#include <errno.h>
#include <stdlib.h>

#include "engine/plumb.h"

int rf_timers_init(rf_timers *t, uint32_t cap) {
  t->n = 0;
  t->cap = cap ? cap : 16;
  t->h = calloc(t->cap, sizeof *t->h);
  return t->h ? 0 : -ENOMEM;
}

void rf_timers_free(rf_timers *t) {
  free(t->h);
  t->h = NULL;
  t->n = t->cap = 0;
}

static void place(rf_timers *t, uint32_t i, rf_timer *tm) {
  t->h[i] = tm;
  tm->pos = i + 1;
}

static void sift_up(rf_timers *t, uint32_t i) {
  rf_timer *tm = t->h[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (t->h[parent]->key <= tm->key)
      break;
    place(t, i, t->h[parent]);
    i = parent;
  }
  place(t, i, tm);
}

static void sift_down(rf_timers *t, uint32_t i) {
  rf_timer *tm = t->h[i];
  for (;;) {
    uint32_t l = 2 * i + 1, m = i;
    uint64_t mk = tm->key;
    if (l < t->n && t->h[l]->key < mk) {
      m = l;
      mk = t->h[l]->key;
    }
    if (l + 1 < t->n && t->h[l + 1]->key < mk)
      m = l + 1;
    if (m == i)
      break;
    place(t, i, t->h[m]);
    i = m;
  }
  place(t, i, tm);
}

static void heap_remove(rf_timers *t, rf_timer *tm) {
  uint32_t i = tm->pos - 1;
  tm->pos = 0;
  t->n--;
  if (i == t->n)
    return;
  place(t, i, t->h[t->n]);
  sift_down(t, i);
  sift_up(t, t->h[i]->pos - 1);
}

static int heap_push(rf_timers *t, rf_timer *tm) {
  if (t->n == t->cap) {
    rf_timer **h = realloc(t->h, sizeof *h * t->cap * 2);
    if (!h)
      return -ENOMEM;
    t->h = h;
    t->cap *= 2;
  }
  place(t, t->n++, tm);
  sift_up(t, t->n - 1);
  return 0;
}

void rf_timer_set(rf_timers *t, rf_timer *tm, uint64_t due) {
  tm->due = due;
  if (due == 0) {
    if (tm->pos)
      heap_remove(t, tm);
    return;
  }
  if (tm->pos) {
    if (due >= tm->key)
      return; /* later: re-filed lazily */
    tm->key = due;
    sift_up(t, tm->pos - 1);
    return;
  }
  tm->key = due;
  if (heap_push(t, tm) < 0) {
    /* Out of memory for the heap: keep the timer as due now, so the owner
     * still hears about it on the next expiry scan rather than never. */
    tm->due = 0;
  }
}

rf_timer *rf_timers_expired(rf_timers *t, uint64_t now) {
  while (t->n > 0 && t->h[0]->key <= now) {
    rf_timer *tm = t->h[0];
    if (tm->due > now) { /* moved later since it was filed */
      tm->key = tm->due;
      sift_down(t, 0);
      continue;
    }
    heap_remove(t, tm);
    tm->due = 0;
    return tm;
  }
  return NULL;
}

uint64_t rf_timers_next(const rf_timers *t) { return t->n ? t->h[0]->key : UINT64_MAX; }
