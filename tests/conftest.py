"""Shared fixtures: Streamlit caches are cleared around every test so results never leak between tests."""

import os

os.environ.setdefault("LRD_ENGINE_SYNC", "1")  # AppTest: the run engine advances a fixed slice per run

import pytest
import streamlit as st
import torch
from streamlit import config

# Visitors see redacted errors (.streamlit/config.toml); under AppTest a failing test shows the real one.
config.set_option("client.showErrorDetails", "full")


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The suite must fit 2 cores: one intra-op thread avoids oversubscription in AppTest and browser servers."""
    torch.set_num_threads(1)
