"""The ``webex-meetings`` commands behind :mod:`webex_meetings.cli`.

:mod:`.output` owns everything a command writes (stdout lines, text or JSON, the terminal's
progress indicator, warnings and advice on stderr); :mod:`.advice` turns errors into exit codes
and advice; :mod:`.options` holds the options shared by the commands that talk to a cloud;
:mod:`.register` and :mod:`.devices` are the commands themselves. Nothing here imports
:mod:`webex_meetings.cli`, which only assembles the parser.
"""
