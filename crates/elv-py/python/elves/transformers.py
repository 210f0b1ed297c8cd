"""transformers models straight from a collection `.elv` of their folder.

    import transformers, elves.transformers
    model = elves.transformers.from_pretrained(transformers.AutoModel, "bert.elv")

`bert.elv` is a model folder compressed as one file (`elv compress DIR`, or
`elves.compress_folder`): its config and tokenizer files are members of it, its weights the
tensors of its safetensors members. Importing this module does not import transformers or
torch; calling `from_pretrained` needs both.
"""
import os
import tempfile
from typing import Any

from . import safe_open


def extract_files(path, folder, base=None) -> None:
    """Writes the collection `path`'s file members (config, tokenizer files) into `folder`,
    not its weights: what `from_pretrained` reads besides the state dict."""
    with safe_open(path, base=base) as f:
        _write_files(f, folder)


def _write_files(f, folder) -> None:
    for member, kind, _ in f.members():
        # Weights come from the state dict; a shard index would point at files not there.
        if kind != "file" or member.endswith(".safetensors.index.json"):
            continue
        dst = os.path.join(folder, *member.split("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "xb") as out:
            out.write(f.read_file(member))


def from_pretrained(model_class: Any, path, *, base=None, **kwargs):
    """`model_class.from_pretrained` (an `Auto…` class or a model class) on the collection
    `.elv` at `path`: the config is read from its file members (written to a temporary
    folder for `AutoConfig`, then removed) unless `config=` is given, and the weights are
    decoded from its safetensors members straight into `state_dict=` (transformers' hook
    for weights it does not read itself; nothing is written to disk as safetensors). `base` is the base model of a file of deltas; `kwargs` go to
    `from_pretrained`."""
    with safe_open(path, framework="pt", base=base) as f:
        if not f.members():
            raise ValueError(f"{path}: not a collection of a model folder (elv compress DIR)")
        state = f.get_tensors()
        with tempfile.TemporaryDirectory(prefix="elves-") as folder:
            _write_files(f, folder)
            import transformers
            config = kwargs.pop("config", None) or transformers.AutoConfig.from_pretrained(folder)
            # An Auto class needs a path to choose the model class; it is chosen here from the
            # config instead, as the Auto class would.
            mapping = getattr(model_class, "_model_mapping", None)
            if mapping is not None:
                model_class = mapping[type(config)]
            # transformers takes a state dict only without a path to load weights from.
            return model_class.from_pretrained(None, config=config, state_dict=state, **kwargs)
