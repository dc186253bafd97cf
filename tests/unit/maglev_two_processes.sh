#!/bin/sh
# Invariant 1 (docs/ARCHITECTURE.md): the same backend set gives the same Maglev
# table on every node, whatever order the backends are listed in. Runs
# maglev_digest (path in $1) as separate processes on 100 backends listed in
# different orders and compares the digests; a different set must give a
# different digest. Output is TAP.
set -u
set -f  # backend lists are split on whitespace, never globbed

digest_bin=${1:-}
if [ -z "$digest_bin" ] || [ ! -x "$digest_bin" ]; then
  echo "Bail out! usage: $0 PATH-TO-maglev_digest"
  exit 1
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

echo "1..8"
n=0
failed=0
check() {  # check CONDITION-EXIT-STATUS DESCRIPTION
  n=$((n + 1))
  if [ "$1" -eq 0 ]; then
    echo "ok $n - $2"
  else
    echo "not ok $n - $2"
    failed=1
  fi
}

# 100 backends, one per line; every seventh has another weight, so the
# weighted walk is covered too.
i=0
while [ "$i" -lt 100 ]; do
  if [ $((i % 7)) -eq 0 ]; then w=40; else w=100; fi
  echo "198.18.$((1 + i / 50)).$((10 + i % 50)):$w"
  i=$((i + 1))
done >"$tmp/ordered"

shuffle() {  # shuffle SEED < list: a reproducible random order
  awk -v seed="$1" 'BEGIN { srand(seed) } { printf "%.9f %s\n", rand(), $0 }' | sort -n | cut -d' ' -f2
}
reverse() {
  awk '{ line[NR] = $0 } END { for (i = NR; i > 0; i--) print line[i] }'
}
digest() {  # digest LISTFILE [SIZE]: the digest, or nothing on failure
  "$digest_bin" --size "${2:-65537}" $(cat "$1") | sed -n 's/^.* digest=\([0-9a-f]\{16\}\)$/\1/p'
}

shuffle 11 <"$tmp/ordered" >"$tmp/shuffled_a"
shuffle 29 <"$tmp/ordered" >"$tmp/shuffled_b"
reverse <"$tmp/ordered" >"$tmp/reversed"
# The same set with one backend replaced, and with one weight changed.
sed 's/^198\.18\.1\.11:100$/198.18.9.9:100/' "$tmp/shuffled_a" >"$tmp/replaced"
sed 's/^198\.18\.1\.12:100$/198.18.1.12:101/' "$tmp/shuffled_a" >"$tmp/reweighted"

ordered=$(digest "$tmp/ordered")
a=$(digest "$tmp/shuffled_a")
b=$(digest "$tmp/shuffled_b")
reversed=$(digest "$tmp/reversed")
replaced=$(digest "$tmp/replaced")
reweighted=$(digest "$tmp/reweighted")

[ -n "$ordered" ] && [ -n "$a" ] && [ -n "$b" ] && [ -n "$reversed" ] && [ -n "$replaced" ] && [ -n "$reweighted" ]
check $? "maglev_digest prints a 64-bit digest for each list"

# The orders must really differ while holding the same backends, or the
# comparisons below prove nothing.
! cmp -s "$tmp/shuffled_a" "$tmp/shuffled_b" && ! cmp -s "$tmp/ordered" "$tmp/shuffled_a" &&
  [ "$(sort "$tmp/shuffled_a")" = "$(sort "$tmp/ordered")" ] &&
  [ "$(sort "$tmp/shuffled_b")" = "$(sort "$tmp/ordered")" ] &&
  ! cmp -s "$tmp/replaced" "$tmp/shuffled_a" && ! cmp -s "$tmp/reweighted" "$tmp/shuffled_a"
check $? "the lists hold the same 100 backends in different orders"

[ -n "$a" ] && [ "$a" = "$b" ]
check $? "two shuffled orders give the same table ($a, $b)"

[ -n "$a" ] && [ "$ordered" = "$a" ] && [ "$reversed" = "$a" ]
check $? "sorted and reversed orders give the same table ($ordered, $reversed)"

[ -n "$replaced" ] && [ "$replaced" != "$a" ]
check $? "one backend replaced gives a different table ($replaced)"

[ -n "$reweighted" ] && [ "$reweighted" != "$a" ]
check $? "one weight changed gives a different table ($reweighted)"

big_a=$(digest "$tmp/shuffled_a" 655373)
big_b=$(digest "$tmp/reversed" 655373)
[ -n "$big_a" ] && [ "$big_a" = "$big_b" ] && [ "$big_a" != "$a" ]
check $? "with 655373 slots, orders still agree ($big_a, $big_b)"

"$digest_bin" 198.18.1.10:100 not-an-address >/dev/null 2>&1
[ $? -eq 2 ]
check $? "a malformed backend is refused"

exit "$failed"
