#!/bin/bash
set -e
for d in logs data; do
  mkdir -p /srv/app/$d
done
