"""Resolution pyramids written while frames arrive.

The 2x2 reducer and the level pipeline that both formats share.
"""
