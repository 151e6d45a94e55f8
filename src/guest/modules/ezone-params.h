/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The two parameters every ezone fault module takes, the paper's kerncrash.c included: the run's `nonce`
 * (printed in the proof line) and `delay_ms` (0 = fire at once). A module that fires its delayed fault in
 * its own way defines EZONE_DELAY_DESC before including this header.
 */
#ifndef EZONE_PARAMS_H
#define EZONE_PARAMS_H

#include <linux/moduleparam.h>

#ifndef EZONE_DELAY_DESC
#define EZONE_DELAY_DESC "0 = fire in module init (process context); else from delayed work (kworker)"
#endif

static char *nonce = "none";
module_param(nonce, charp, 0444);
MODULE_PARM_DESC(nonce, "run nonce printed as proof of firing");

static uint delay_ms;
module_param(delay_ms, uint, 0444);
MODULE_PARM_DESC(delay_ms, EZONE_DELAY_DESC);

#endif
