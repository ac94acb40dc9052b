"""A mistake in `[agent]`, `[[agents]]` or `[[toolsets]]` refuses start-up with a message naming the key."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from chatgate.config_errors import ConfigError
from chatgate.main import create_app
from support.settings import make_settings
from toolsets.project_config import write_config


def start(tmp_path: Path, config: Path) -> None:
    create_app(make_settings(tmp_path, CHATGATE_CONFIG=config))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[agent]\ntemprature = 0.2\n", "[agent]: unknown key 'temprature'"),
        ("[agent]\ntemperature = 5\n", "[agent]: temperature: Input should be less than or equal to 2"),
        ('[agent]\nname = "Billing Bot"\n', "[agent]: name: String should match pattern"),
        ('[agent]\nhandoffs = ["billing"]\n', "[agent] handoffs: no agent named 'billing' to hand off to"),
        ('[agent]\ntools = ["crm_*"]\n', "[agent] tools: 'crm_*' matches no tool this service serves"),
        (
            '[agent]\nhandoffs = ["billing"]\n[[agents]]\nname = "billing"\ninstructions = "Bill."\n'
            'tools = ["invoices_*"]\n',
            "[[agents]] billing tools: 'invoices_*' matches no tool this service serves",
        ),
        (
            '[agent]\ninstructions = "You serve {user.id}."\n',
            "[agent] instructions: unknown placeholder {user.id}",
        ),
        (
            '[agent]\ninstructions = "Act for {user_id}."\n',
            "[agent] instructions: unknown placeholder {user_id}",
        ),
        (
            '[agent]\ninstructions = "Hi."\ninstructions_file = "prompt.md"\n',
            "[agent] instructions_file: set instructions or instructions_file, not both",
        ),
        (
            '[agent]\ninstructions_file = "prompts/missing.md"\n',
            "[agent] instructions_file: 'prompts/missing.md' cannot be read",
        ),
        ('[[agents]]\ninstructions = "Bill."\n', "[[agents]] entry 1: name is required"),
        (
            '[[agents]]\nname = "billing"\n',
            "[[agents]] billing: instructions or instructions_file is required",
        ),
        (
            '[[agents]]\nname = "billing"\ninstructions = "Bill."\ncolour = "red"\n',
            "[[agents]] billing: unknown key 'colour'",
        ),
        (
            '[agent]\nname = "billing"\n[[agents]]\nname = "billing"\ninstructions = "Bill."\n',
            "[[agents]] name: billing is used by more than one agent",
        ),
        ('[agent]\ntools = ["whoami", " "]\n', "[agent] tools: each entry must be a tool name or a glob"),
        (
            '[agent]\ntool_choice = "crm_nope"\n',
            "[agent] tool_choice: 'crm_nope' is not 'auto', 'required', 'none' or one of its tools",
        ),
        (
            '[agent]\ntools = ["whoami"]\ntool_choice = "files_list"\n',
            "[agent] tool_choice: 'files_list' is not",
        ),
    ],
)
def test_agent_configuration_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        start(tmp_path, write_config(tmp_path, text, toolsets=False))
    assert message in str(raised.value)


def _module(tmp_path: Path, source: str) -> str:
    """Write an operator module with a name no other test imports; return the name."""
    name = f"operator_tools_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    return name


def _toolset_config(tmp_path: Path, module: str, extra: str = "") -> Path:
    # A relative path: resolved against the configuration file's folder.
    return write_config(tmp_path, f'[[toolsets]]\nmodule = "{module}"\npath = "."\n{extra}', toolsets=False)


HEADER = """
from typing import Annotated
from pydantic import BaseModel, Field
from chatgate.toolkit import Toolset, ToolContext
toolset = Toolset("ops")
"""


@pytest.mark.parametrize(
    ("parameter", "shown"),
    [
        ("user_id: str", "user_id"),
        ("userId: str", "userId"),
        ("owner: str", "owner"),
        ("sub: str", "sub"),
        ("TENANT_ID: str", "TENANT_ID"),
        ("uid: int", "uid"),
        ("account_id: str", "account_id"),
        ("who: Annotated[str, Field(alias='userId')]", "userId"),
        ("filters: Filters", "owner_id"),  # nested, inside a model parameter
    ],
)
def test_a_parameter_named_like_a_user_id_refuses_start_up(
    tmp_path: Path, parameter: str, shown: str
) -> None:
    module = _module(
        tmp_path,
        HEADER
        + f"""
class Filters(BaseModel):
    text: str = ""
    owner_id: str = ""

@toolset.tool
async def ops_lookup(ctx: ToolContext, {parameter}) -> str:
    "Look something up."
    return "x"
""",
    )
    with pytest.raises(ConfigError) as raised:
        start(tmp_path, _toolset_config(tmp_path, module))
    assert f"[[toolsets]] ops: tool ops_lookup: parameter {shown!r} is named like a user id" in str(
        raised.value
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1\n", "defines no Toolset at its top level"),
        (
            "raise RuntimeError('operator bug at import')\n",
            "cannot import the module: RuntimeError: operator bug",
        ),
        (
            HEADER + "@toolset.tool\ndef ops_sync(ctx: ToolContext) -> str:\n    'Do it.'\n    return 'x'\n",
            "ToolsetDefinitionError: toolset ops: tool 'ops_sync' must be an async function",
        ),
        (
            HEADER
            + "@toolset.tool\nasync def lookup(ctx: ToolContext) -> str:\n    'Do it.'\n    return 'x'\n",
            "a tool name is a lowercase identifier starting with 'ops_'",
        ),
        (
            HEADER + "@toolset.tool\nasync def ops_quiet(ctx: ToolContext) -> str:\n    return 'x'\n",
            "tool 'ops_quiet' needs a description",
        ),
        (
            HEADER + "@toolset.tool(read_only=True, destructive=True)\n"
            "async def ops_both(ctx: ToolContext) -> str:\n    'Do it.'\n    return 'x'\n",
            "cannot be both read_only and destructive",
        ),
        (
            "from chatgate.toolkit import Toolset\ntoolset = Toolset('files')\n",
            "Toolset name 'files' must be a lowercase identifier",
        ),
        (
            HEADER + "@toolset.tool\nasync def ops_hint(ctx: ToolContext, when: 'Undefined') -> str:\n"
            "    'Do it.'\n    return 'x'\n",
            "[[toolsets]] ops: tool ops_hint: its type hints cannot be resolved",
        ),
        (
            HEADER + "@toolset.tool\nasync def ops_star(ctx: ToolContext, *names: str) -> str:\n"
            "    'Do it.'\n    return 'x'\n",
            "parameter 'names' must be a plain named parameter",
        ),
        (
            "from chatgate.toolkit import Toolset\ntoolset = Toolset('empty')\n",
            "toolset 'empty' has no tools",
        ),
    ],
)
def test_toolset_errors(tmp_path: Path, source: str, message: str) -> None:
    module = _module(tmp_path, source)
    with pytest.raises(ConfigError) as raised:
        start(tmp_path, _toolset_config(tmp_path, module))
    assert f"[[toolsets]] {module}" in str(raised.value) or "[[toolsets]] ops" in str(raised.value)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[toolsets]]\nmodul = "x"\n', "[[toolsets]] entry 1: unknown key 'modul' (known: module, path)"),
        ('[[toolsets]]\nmodule = "not a module"\n', "[[toolsets]] entry 1 (not a module): module must be"),
        (
            '[[toolsets]]\nmodule = "nowhere_to_be_found"\n',
            "[[toolsets]] nowhere_to_be_found: cannot import the module: ModuleNotFoundError",
        ),
        (
            '[[toolsets]]\nmodule = "x"\npath = "missing-dir"\n',
            "[[toolsets]] entry 1 (x): path 'missing-dir' is not a directory",
        ),
    ],
)
def test_toolsets_section_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        start(tmp_path, write_config(tmp_path, text, toolsets=False))
    assert message in str(raised.value)


def test_a_tool_name_taken_by_a_declared_table_refuses_start_up(tmp_path: Path) -> None:
    module = _module(
        tmp_path,
        "from chatgate.toolkit import Toolset, ToolContext\n"
        "toolset = Toolset('contacts')\n"
        "@toolset.tool\nasync def contacts_list(ctx: ToolContext) -> str:\n    'List.'\n    return 'x'\n",
    )
    table = (
        '[[tables]]\nname = "contacts"\nmodel = "database.declared_contacts_model:Contact"\n'
        'owner_column = "account"\nwritable = ["name"]\n'
    )
    with pytest.raises(ConfigError, match="tool contacts_list: another tool already has this name"):
        start(tmp_path, _toolset_config(tmp_path, module, table))


def test_a_valid_configuration_starts(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "billing.md").write_text("You answer billing questions for {user.name}.")
    config = write_config(
        tmp_path,
        '[agent]\nname = "assistant"\ninstructions = "Help {user.name} ({user.email}); it is {now}."\n'
        'tools = ["notes_*", "whoami"]\nhandoffs = ["billing"]\ntemperature = 0.2\n'
        '[[agents]]\nname = "billing"\ninstructions_file = "prompts/billing.md"\n'
        'handoff_description = "Billing questions"\ntools = ["files_*"]\nhandoffs = ["assistant"]\n',
    )
    start(tmp_path, config)


def test_globs_for_operator_mcp_server_tools_are_checked_against_their_prefix(tmp_path: Path) -> None:
    # `[[mcp_servers]]` tools are listed only at run time (mcp_<name>_…); a glob under a configured
    # server's prefix is accepted, one under no server's prefix is not.
    servers = f'[[mcp_servers]]\nname = "github"\ncommand = "{sys.executable}"\n'
    start(tmp_path, write_config(tmp_path, servers + '[agent]\ntools = ["mcp_github_*", "whoami"]\n'))
    with pytest.raises(ConfigError, match="'mcp_gitlab_\\*' matches no tool"):
        start(tmp_path, write_config(tmp_path, servers + '[agent]\ntools = ["mcp_gitlab_*"]\n'))


def test_a_declared_tables_model_in_a_toolsets_folder_is_found_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One operator package holds the models and the tools, found only through `[[toolsets]] path`:
    # the API process's own start-up check of `[[tables]]` must look there too (`chatgate serve`
    # does not put the working folder on the import path).
    monkeypatch.setattr(sys, "path", [*sys.path])
    package = f"operator_project_{uuid.uuid4().hex[:10]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "models.py").write_text(
        textwrap.dedent(
            f"""
            from sqlmodel import Field, SQLModel

            class Memo(SQLModel, table=True):
                __tablename__ = "{package}_memos"
                id: int | None = Field(default=None, primary_key=True)
                owner: str = Field(max_length=1024)
                text: str = Field(max_length=200)
            """
        )
    )
    module = f"{package}.tools"
    (tmp_path / package / "tools.py").write_text(
        HEADER + "@toolset.tool\nasync def ops_ping(ctx: ToolContext) -> str:\n    'Ping.'\n    return 'x'\n"
    )
    table = f'[[tables]]\nname = "memos"\nmodel = "{package}.models:Memo"\nwritable = ["text"]\n'
    start(tmp_path, _toolset_config(tmp_path, module, table))
    assert str(tmp_path.resolve()) in sys.path
