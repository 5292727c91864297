#!/bin/sh
# Layering rules of shared/STYLE.md 2.3, checked by grep.
fail=0
bad() { echo "check-layers: $1" >&2; fail=1; }
grep -rlE '#include "(kvm)/' common/dbt >/dev/null 2>&1 && bad "dbt/ includes kvm/"
grep -rlE '#include "(dbt)/' common/kvm >/dev/null 2>&1 && bad "kvm/ includes dbt/"
grep -rlE '#include "(cpu|dbt|kvm)/' common/dev >/dev/null 2>&1 && bad "dev/ includes a CPU module"
hits=$(grep -rnE '^[^*]*\b(fatal|fatalx|exit)\(' common --include=*.c | grep -vE ':[0-9]+:\s*(/?\*)')
[ -n "$hits" ] && bad "exit/fatal in common/: $hits"
grep -rlE '#include "(vm|dev|hw|cpu|dbt|kvm|net|snap|ctl)/' common/util common/block >/dev/null 2>&1 && bad "util/ or block/ reaches up the layers"
hits=$(grep -rlE '#include "ctl/' common --include=*.c --include=*.h | grep -v '^common/ctl/')
[ -n "$hits" ] && bad "only the tools include ctl/: $hits"
grep -rlE '#include "(vm|dev|hw|cpu|dbt|kvm|net|block|cfg|ctl|mem)/' common/snap >/dev/null 2>&1 && bad "snap/ reaches up the layers (it knows only util/)"
exit $fail
