/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "fl-placement.h"

G_BEGIN_DECLS

/*
 * The local placement: the session runs under flotilla-runner on this machine, which the
 * daemon spawns and, after a restart, adopts by pid (pidfd). See fl-placement.h for the
 * contract and fl-runner-protocol.h for the files the runner leaves.
 */
#define FL_TYPE_PLACEMENT_LOCAL (fl_placement_local_get_type())
G_DECLARE_FINAL_TYPE(FlPlacementLocal, fl_placement_local, FL, PLACEMENT_LOCAL, FlPlacement)

G_END_DECLS
