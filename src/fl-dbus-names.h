/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Where flotillad is on the session bus: the name it owns and the object it exports
 * (data/io.github.flotilla.Flotilla1.xml describes the interface). The daemon and the CLI
 * both use these; the error names are in fl-error.c.
 */
#define FL_BUS_NAME    "io.github.flotilla.Flotilla1"
#define FL_OBJECT_PATH "/io/github/flotilla/Flotilla1"
