"""The Streamlit app's shared UI code: ``settings`` (folders, switches) → ``loaders`` (model
choices, cached models and data) → ``compute`` / ``block_views`` (cached results, compute
slots) and ``jobs`` (long runs a button starts) → ``panels`` / ``widgets`` / ``charts`` /
``pictures`` / ``progress`` (drawing), with the longer prose in ``text``.

Only this package (and the pages) import streamlit; :mod:`vonedemo` stays UI-free.
"""
