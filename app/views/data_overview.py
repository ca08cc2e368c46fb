"""数据 page: the active dataset's layers, feature counts, sources and validation report."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.state import DEMO_PATH, load_demo
from layers.schema import LAYERS

st.title("乡村短板一张图 · 数据")
st.caption("宁夏农村基础设施短板分析平台（演示：同心县）。分析页面将在后续版本中加入。")

if not DEMO_PATH.exists():
    st.error("未找到演示数据 data/demo/tongxin.gpkg，请运行 `python -m scripts.build_demo` 生成。")
    st.stop()

dataset = load_demo()
rows = []
for name, frame in dataset.layers.items():
    sources = sorted({str(s) for s in frame.get("source", pd.Series(dtype=str)).unique() if s})
    rows.append(
        {
            "图层": LAYERS[name].title_zh,
            "图层名": name,
            "要素数": len(frame),
            "来源": "；".join(sources),
        }
    )
st.subheader("图层")
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="layers_table")

errors = [p for p in dataset.problems if p.severity == "error"]
warnings = [p for p in dataset.problems if p.severity != "error"]
st.subheader("数据检查")
if errors:
    st.error(f"发现 {len(errors)} 个数据错误")
else:
    st.success(f"全部图层通过检查（{len(warnings)} 条提示）")
if dataset.problems:
    report = pd.DataFrame(
        [
            {
                "文件": p.file,
                "图层": p.layer,
                "行": p.row,
                "编号": p.feature_id,
                "字段": p.field,
                "问题": p.message_zh,
                "修改方法": p.fix_zh,
            }
            for p in dataset.problems
        ]
    )
    st.dataframe(report, hide_index=True, width="stretch", key="problems_table")
