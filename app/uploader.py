"""The file uploader in Chinese: Streamlit 1.67 writes its own words in English, with no locale.

Streamlit draws "Upload", "200MB per file • CSV, XLSX", "Drag and drop a file here" and its
error messages ("File must be 200.0MB or smaller.") in the browser. A small script, run
once per browser page, rewrites those texts inside every ``stFileUploader`` as they appear
(a ``MutationObserver``): 上传文件, 单个文件不超过 200MB • CSV, XLSX, 将文件拖到此处 …
The size is Streamlit's own figure (``server.maxUploadSize`` or the widget's
``max_upload_size``), only the words around it change, so the limit shown stays right
whatever the server allows. Texts it does not know are left as they are.
"""

from __future__ import annotations

import json

import streamlit as st

__all__ = ["UPLOADER_PATTERNS_ZH", "UPLOADER_TEXT_ZH", "uploader_script", "zh_file_uploader"]

UPLOADER_TEXT_ZH: dict[str, str] = {
    "Upload": "上传文件",
    "Upload directories": "上传文件夹",
    "Browse files": "选择文件",
    "Drag and drop a file here": "将文件拖到此处",
    "Drag and drop files here": "将文件拖到此处",
    "Drag and drop directories here": "将文件夹拖到此处",
    "Drag and drop file here": "将文件拖到此处",
    "File size is too small.": "文件太小。",
    "Only one file is allowed.": "只能上传一个文件。",
    "Too many files": "文件太多",
    "Unexpected error. Please try again.": "上传出错，请重试。",
    "Upload failed": "上传失败",
    "Click to retry upload": "点击重新上传",
    "Add files": "添加文件",
    "file upload": "上传文件",
}
"""Streamlit's fixed uploader texts (1.67, and the older 'Browse files' ones) → Chinese."""

UPLOADER_PATTERNS_ZH: tuple[tuple[str, str], ...] = (
    (r"^(\S+) per file$", "单个文件不超过 $1"),
    (r"^Limit (\S+) per file(.*)$", "单个文件不超过 $1$2"),
    (r"^File must be (\S+) or smaller\.$", "文件不能超过 $1。"),
    (r"^File is larger than (\S+)$", "文件超过 $1"),
    (r"^(.*) files are not allowed\.$", "不支持此类型的文件（$1）。"),
)
"""Texts with a figure or a type in them: JavaScript regular expression → replacement."""

_SCRIPT = """
(() => {
  if (window.__gapmapUploaderZh) return;
  window.__gapmapUploaderZh = true;
  const TEXT = %(text)s;
  const PATTERNS = %(patterns)s.map(([re, to]) => [new RegExp(re), to]);
  const zh = (s) => {
    const t = s.trim();
    if (!t) return null;
    if (Object.prototype.hasOwnProperty.call(TEXT, t)) return s.replace(t, TEXT[t]);
    for (const [re, to] of PATTERNS) if (re.test(t)) return s.replace(t, t.replace(re, to));
    return null;
  };
  const ATTRS = ["aria-label", "title"];
  const fix = (root) => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const to = zh(n.nodeValue);
      if (to !== null && to !== n.nodeValue) n.nodeValue = to;
    }
    for (const el of root.querySelectorAll("[aria-label], [title]")) {
      for (const a of ATTRS) {
        const v = el.getAttribute(a);
        const to = v === null ? null : zh(v);
        if (to !== null && to !== v) el.setAttribute(a, to);
      }
    }
  };
  const all = () => document.querySelectorAll('[data-testid="stFileUploader"]').forEach(fix);
  let queued = false;
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; all(); });
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
  all();
})();
"""

_CSS = "<style>.st-key-gapmap_uploader_zh{display:none}</style>"


def uploader_script() -> str:
    """Return the JavaScript that puts the uploaders' own texts into Chinese (idempotent)."""
    return _SCRIPT % {
        "text": json.dumps(UPLOADER_TEXT_ZH, ensure_ascii=False),
        "patterns": json.dumps([list(p) for p in UPLOADER_PATTERNS_ZH], ensure_ascii=False),
    }


def zh_file_uploader() -> None:
    """Add the script to the page (once per run, in a hidden container; call from main)."""
    st.html(_CSS)
    with st.container(key="gapmap_uploader_zh"):
        st.html(f"<script>{uploader_script()}</script>", unsafe_allow_javascript=True)
