/** Never download a browser: seqgpu's tests and benches drive Debian's /usr/bin/chromium. */
module.exports = { skipDownload: true };
