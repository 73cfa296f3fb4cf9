"""Package metadata, requirements and the console script come from settings.ini (nbdev-2 style)."""
from configparser import ConfigParser

import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']


def listed(key):
    return cfg.get(key, '').split()


def package_data():
    data = {}
    for entry in listed('package_data'):
        pkg, patterns = entry.split(':', 1)
        data[pkg] = patterns.split(',')
    return data


setuptools.setup(
    name=cfg['repo'].replace('_', '-'),
    version=cfg['version'],
    description=cfg['description'],
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    author=cfg['author'],
    author_email=cfg['author_email'],
    license=cfg['license'],
    keywords=cfg['keywords'],
    python_requires='>=' + cfg['min_python'],
    packages=listed('packages'),
    package_data=package_data(),
    include_package_data=True,
    install_requires=listed('requirements'),
    extras_require={'dev': listed('dev_requirements'),
                    **{key[len('extras_'):]: listed(key) for key in cfg if key.startswith('extras_')}},
    entry_points={'console_scripts': listed('console_scripts')},
)
