"""nbgrader's configuration for the nti_edu course: this folder (assignments/) is the course directory.

    cd assignments
    nbgrader generate_assignment 01_ddim_recap --force   # source/ -> release/ (the student version)
    nbgrader autograde 01_ddim_recap                     # submitted/<student>/01_ddim_recap/ -> autograded/

See README.md in this folder (the instructor's guide).
"""
c = get_config()  # noqa: F821 (nbgrader provides it)

c.CourseDirectory.course_id = "nti_edu"
# Each notebook runs top to bottom in about a minute on a 2-core CPU; leave room for slow machines.
c.ExecutePreprocessor.timeout = 600
