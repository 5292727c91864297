/* The vmkit version string. */
#ifndef VM_UTIL_VERSION_H
#define VM_UTIL_VERSION_H

#define VMKIT_VERSION "0.1.0"

#endif
