#ifndef DEVICEBACKUP_CLIBSSH2_SHIM_H
#define DEVICEBACKUP_CLIBSSH2_SHIM_H
#include <libssh2.h>
#endif
