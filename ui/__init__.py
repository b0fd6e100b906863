"""The Streamlit app's shared UI code: cached loaders, progress adapters, charts, widgets.

Only this package (and the pages) import streamlit; :mod:`vonedemo` stays UI-free.
"""
