/* One source, built once per defect the loader must refuse (BROKEN_NO_SYMBOL, BROKEN_NULL_TABLE,
   BROKEN_WRONG_ABI, BROKEN_NULL_NAME). */
#include <stddef.h>

#include "bnh/plugin.h"

#ifdef BROKEN_NO_SYMBOL
/* Exports a near miss of the required name. */
int bnh_impl_v0_get(void) { return 0; }
#else

#ifdef BROKEN_WRONG_ABI
#define TABLE_ABI_VERSION 2
#else
#define TABLE_ABI_VERSION BNH_ABI_VERSION
#endif

#ifdef BROKEN_NULL_NAME
#define TABLE_NAME NULL
#else
#define TABLE_NAME "broken"
#endif

#ifndef BROKEN_NULL_TABLE
static const bnh_impl_v1 table = {TABLE_ABI_VERSION, TABLE_NAME, "a plugin the loader refuses",
                                  NULL, NULL, NULL, NULL, NULL, NULL, NULL};
#endif

const bnh_impl_v1 *bnh_impl_v1_get(void) {
#ifdef BROKEN_NULL_TABLE
  return NULL;
#else
  return &table;
#endif
}
#endif
