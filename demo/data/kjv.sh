#!/usr/bin/env bash
# Regenerates the King James Version files kjv-*.txt from Debian's bible-kjv-text package
# (the Authorized Version of 1611, public domain; the package's copyright file notes that its
# copyright has expired).
#   apt-get install bible-kjv && bash demo/data/kjv.sh
# Each file: the book's name, then one verse per line without its reference, a blank line
# between chapters.
set -euo pipefail
cd "$(dirname "$0")"
book() { # name, file, range
  bible -f "$3" </dev/null | awk -v name="$1" '
    BEGIN { print name }
    { ref = $1; sub(/^[^ ]* /, ""); ch = ref; sub(/^[A-Za-z]+/, "", ch); sub(/:.*/, "", ch)
      if (ch != last) { print ""; last = ch }
      print }' > "$2"
}
book Genesis kjv-genesis.txt 'Gen1:1-Gen50:26'
book Ruth kjv-ruth.txt 'Ruth1:1-Ruth4:22'
book Psalms kjv-psalms.txt 'Ps1:1-Ps150:6'
book Proverbs kjv-proverbs.txt 'Prov1:1-Prov31:31'
book Ecclesiastes kjv-ecclesiastes.txt 'Eccl1:1-Eccl12:14'
book 'The Song of Solomon' kjv-song.txt 'Song1:1-Song8:14'
