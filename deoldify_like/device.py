import torch


def pick_device(name='auto'):
    "'auto' is CUDA when present, else CPU; 'cuda' without a GPU is an error."
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if name.startswith('cuda') and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but no CUDA device is available")
    return torch.device(name)
