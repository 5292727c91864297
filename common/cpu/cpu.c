/*
 * The CPU back-end table and the --accel choice.  "auto" takes KVM only
 * where the host has hardware virtualization: a /dev/kvm without vmx/svm
 * flags (KVM-PVM, a software nested hypervisor) runs guest kernels far
 * slower than the DBT and cannot run some of their instructions at all.
 */
#include "cpu/cpu.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"

bool
cpu_host_has_hw_virt(void)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		found = strstr(line, " vmx") != NULL ||
		    strstr(line, " svm") != NULL;
		break;
	}
	fclose(f);
	return found;
}

static bool
host_is_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

const struct cpu_backend_ops *
cpu_backend_select(const char *accel, char *why, unsigned whylen,
    struct vm_err *err)
{
	struct vm_err kerr = { 0 };

	if (strcmp(accel, "dbt") == 0) {
		snprintf(why, whylen, "dbt: requested with --accel dbt");
		return &dbt_backend;
	}
	if (strcmp(accel, "kvm") == 0) {
#ifdef HAVE_KVM
		if (kvm_backend.probe(&kerr) < 0) {
			vm_err_set(err, kerr.code, "--accel kvm: %s", kerr.msg);
			return NULL;
		}
		snprintf(why, whylen, "kvm: requested with --accel kvm%s",
		    cpu_host_has_hw_virt() ? "" :
		    " (no hardware virtualization: guest kernel code is "
		    "emulated by the host kernel, slowly)");
		return &kvm_backend;
#else
		vm_err_set(err, -ENOTSUP, "--accel kvm: built without KVM");
		return NULL;
#endif
	}
	if (strcmp(accel, "auto") != 0) {
		vm_err_set(err, -EINVAL,
		    "unknown accelerator '%s' (use auto, kvm or dbt)", accel);
		return NULL;
	}
#ifdef HAVE_KVM
	if (!cpu_host_has_hw_virt()) {
		struct vm_err derr = { 0 };

		if (dbt_backend.probe(&derr) < 0 && kvm_backend.probe(&kerr) == 0) {
			snprintf(why, whylen, "kvm: the DBT is not usable (%s) "
			    "and /dev/kvm works, but without hardware "
			    "virtualization: guest kernel code runs slowly",
			    derr.msg);
			return &kvm_backend;
		}
		snprintf(why, whylen, "dbt: %s", host_is_pvm() ?
		    "/dev/kvm is KVM-PVM (software nested virtualization, "
		    "no vmx/svm): the DBT is faster and complete" :
		    "the host CPU has no hardware virtualization (vmx/svm)");
		return &dbt_backend;
	}
	if (kvm_backend.probe(&kerr) < 0) {
		snprintf(why, whylen, "dbt: KVM not usable: %s", kerr.msg);
		return &dbt_backend;
	}
	snprintf(why, whylen, "kvm: hardware virtualization available");
	return &kvm_backend;
#else
	snprintf(why, whylen, "dbt: built without KVM");
	return &dbt_backend;
#endif
}
